"""Concurrent Event API senders that remember every answer, and the check that holds the server
to them: an event in a 2xx answer is stored exactly once, under the id it was given.

Each event carries its scenario and a sequence number in `data`, so what was stored is known
whatever the answer was (none, when the server died mid-request)."""

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Answer:
    seqs: list[int]
    url: str
    status: int | None  # None: no answer (refused, reset, timed out)
    ids: list[str]
    at: float


@dataclass
class Senders:
    """`threads` senders posting `name` events to `urls` (each thread keeps to one, in turn)
    in requests of `batch` events (1: a single event, not an array), until `count` events were
    sent or `stop()`."""

    urls: list[str]
    key: str
    scenario: str
    name: str = "chaos/nothing"
    data: dict = field(default_factory=dict)
    batch: int = 1
    threads: int = 4
    count: int | None = None
    pause: float = 0
    timeout: float = 10
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self):
        self._seqs = itertools.count()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(self.urls[n % len(self.urls)],), daemon=True)
            for n in range(self.threads)
        ]

    def start(self) -> "Senders":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> "Senders":
        self._stop.set()
        return self.join()

    def join(self) -> "Senders":
        for thread in self._threads:
            thread.join()
        return self

    def _next_seqs(self) -> list[int]:
        with self._lock:
            seqs = [next(self._seqs) for _ in range(self.batch)]
        return [seq for seq in seqs if self.count is None or seq < self.count]

    def _send(self, url: str) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set() and (seqs := self._next_seqs()):
                events = [
                    {"name": self.name, "data": {**self.data, "scenario": self.scenario, "seq": s}}
                    for s in seqs
                ]
                body = events if self.batch > 1 else events[0]
                try:
                    response = client.post(f"{url}/e/{self.key}", json=body)
                    status = response.status_code
                    ids = response.json().get("ids", []) if status < 300 else []
                except (httpx.HTTPError, ValueError):
                    status, ids = None, []
                with self._lock:
                    self.answers.append(Answer(seqs, url, status, ids, time.time()))
                if self.pause:
                    time.sleep(self.pause)

    # --- what the answers say ------------------------------------------------------------

    def accepted(self) -> list[Answer]:
        return [a for a in self.answers if a.status is not None and a.status < 300]

    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)


def stored_events(shape, scenario: str) -> dict[int, list[str]]:
    """The scenario's stored events: sequence number -> the public ids it was stored under."""
    rows = shape.rows(
        "SELECT (data->>'seq')::int, public_id FROM events_event WHERE data->>'scenario' = %s",
        scenario,
    )
    stored: dict[int, list[str]] = {}
    for seq, public_id in rows:
        stored.setdefault(seq, []).append(public_id)
    return stored


def check_accepted_stored_once(shape, senders: Senders) -> dict[int, list[str]]:
    """Every event of a 2xx answer is stored exactly once, under the id the answer gave it;
    the stored events (by sequence number)."""
    stored = stored_events(shape, senders.scenario)
    for answer in senders.accepted():
        assert len(answer.ids) == len(answer.seqs), answer
        for seq, public_id in zip(answer.seqs, answer.ids, strict=True):
            assert stored.get(seq) == [public_id], (seq, public_id, stored.get(seq))
    assert max(map(len, stored.values()), default=1) == 1, "an event was stored twice"
    return stored
