"""kill -9 a server process while events are posted to it: every event in a 2xx answer is stored
exactly once, and the other server keeps serving throughout."""

import time
from collections import Counter

from tests.chaos.processes import wait_until
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once


def test_a_server_killed_mid_request_loses_no_accepted_event(shape, figures):
    victim, survivor = shape.servers
    senders = Senders(
        [victim.url, survivor.url],
        shape.production.event_key,
        "server-kill",
        name="chaos/steps",
        data={"steps": 1},
        threads=6,
        pause=0.05,
    ).start()
    wait_until(lambda: len(_accepted(senders, victim)) >= 50, timeout=60, what="the victim's 2xx")
    victim.kill()
    killed_at = time.time()
    time.sleep(2)  # the survivor alone
    victim.start()
    back = wait_until(
        lambda: min(_accepted(senders, victim, after=killed_at), default=None),
        timeout=60,
        what="a 2xx from the restarted server",
    )
    senders.stop()

    stored = check_accepted_stored_once(shape, senders)
    survivors = [a for a in senders.answers if a.url == survivor.url]
    lost = [a for a in senders.answers if a.status is None]
    assert survivors and all(a.status == 200 for a in survivors), _statuses(survivors)
    assert lost, "every post was answered: the victim was never down"
    assert all(a.url == victim.url and killed_at - 1 < a.at for a in lost)
    wait_for_runs(shape, "server-kill", count=len(stored), timeout=120)

    runs = runs_of(shape, "server-kill")
    figures.events_accepted = len(senders.accepted())
    figures.events_stored = len(stored)
    figures.recovery_seconds = back - killed_at
    figures.notes = (
        f"{len(lost)} posts to the killed server unanswered, "
        f"{sum(a.seqs[0] in stored for a in lost)} of them stored; "
        f"{len(survivors)} posts to the other server, all 200"
    )
    figures.record(**runs.figures())
    assert runs.statuses == {"completed": len(stored)} and runs.stored_max == 1


def _accepted(senders: Senders, server, *, after: float = 0) -> list[float]:
    """When `server` gave its 2xx answers (after `after`)."""
    return [a.at for a in senders.accepted() if a.url == server.url and a.at > after]


def _statuses(answers) -> Counter:
    return Counter(a.status for a in answers)
