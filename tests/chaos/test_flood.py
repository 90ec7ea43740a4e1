"""A flood of events on both servers from concurrent senders, single and batched: no 5xx, every
event of a 2xx answer stored exactly once, and the servers' memory bounded.

20,000 events (the issue's hand test sent 30,000; this is what fits the suite's time budget on
two cores): 4,000 single posts from 8 senders beside 16,000 in batches of 100 from 2 more. The
events start no run: the flood is the Event API's."""

import threading
import time

from tests.chaos.senders import Senders, check_accepted_stored_once

SINGLE, BATCHED, BATCH = 4_000, 16_000, 100
MIB = 1024 * 1024
# Headroom over a server's resident size before the flood, which grew it by a few MiB here: a
# server that kept 7 KiB of each of its 10,000 events would exceed it.
RSS_HEADROOM = 64 * MIB


def test_a_flood_is_stored_exactly_once_in_bounded_memory(shape, figures):
    urls = [server.url for server in shape.servers]
    key = shape.production.event_key
    single = Senders(urls, key, "flood-single", threads=8, count=SINGLE)
    batched = Senders(urls, key, "flood-batched", batch=BATCH, threads=2, count=BATCHED)
    baseline = {server.name: server.rss_bytes() for server in shape.servers}
    with PeakRss(shape.servers) as peak:
        started = time.monotonic()
        single.start(), batched.start()
        single.join(), batched.join()
        elapsed = time.monotonic() - started

    stored = len(check_accepted_stored_once(shape, single))
    stored += len(check_accepted_stored_once(shape, batched))
    figures.events_accepted = len(single.accepted()) + len(batched.accepted()) * BATCH
    figures.events_stored = stored
    figures.notes = f"{SINGLE + BATCHED} events in {elapsed:.0f} s; " + ", ".join(
        f"{name} RSS {baseline[name] / MIB:.0f} -> peak {peak[name] / MIB:.0f} MiB"
        for name in baseline
    )
    assert single.statuses() == {200: SINGLE} and batched.statuses() == {200: BATCHED // BATCH}
    assert stored == SINGLE + BATCHED
    for name, rss in peak.items():
        assert rss < baseline[name] + RSS_HEADROOM, (name, baseline[name], rss)


class PeakRss:
    """The largest resident size each process reached meanwhile, sampled every 0.2 s."""

    def __init__(self, processes):
        self.processes, self.peak = processes, {p.name: p.rss_bytes() for p in processes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.2):
            for process in self.processes:
                self.peak[process.name] = max(self.peak[process.name], process.rss_bytes())

    def __enter__(self) -> dict[str, int]:
        self._thread.start()
        return self.peak

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
