"""events_ingest: the one storage path, as the API, the dashboard and the engine call it."""

import threading

import pytest
from django.db import connection, transaction

from controlplane.events.models import Event
from controlplane.events.services import events_ingest
from controlplane.events.validation import EventRejected, normalize_events
from controlplane.ids import seeded_ulids

SEED = "1743130137367,eii2YKXRVTJPuA=="


@pytest.mark.django_db
def test_internal_events_use_the_same_path(world):
    [item] = events_ingest(
        environment=world.prod_a,
        payloads=[{"name": "inngest/function.finished", "data": {"run_id": "r1"}}],
        source="internal",
    )
    event = Event.objects.get()
    assert item.created and item.event == event
    assert (event.name, event.source, event.event_key, event.data) == (
        "inngest/function.finished",
        "internal",
        None,
        {"run_id": "r1"},
    )
    assert event.ts > 0 and event.user == {}


@pytest.mark.django_db
def test_it_joins_an_outer_transaction_all_or_nothing(world):
    class EngineFailed(Exception):
        pass

    with pytest.raises(EngineFailed), transaction.atomic():
        events_ingest(environment=world.prod_a, payloads=[{"name": "app/x"}], source="api")
        raise EngineFailed  # e.g. creating the runs for these events failed
    assert not Event.objects.exists()

    with transaction.atomic():
        [item] = events_ingest(environment=world.prod_a, payloads=[{"name": "app/x"}], source="api")
        assert item.event.pk is not None  # usable as a foreign key in the same transaction
    assert Event.objects.get() == item.event


@pytest.mark.django_db
def test_duplicates_answer_the_original_with_created_false(world):
    payloads = [{"name": "app/x", "id": "k"}]
    [first] = events_ingest(environment=world.prod_a, payloads=payloads, source="api")
    [again, other] = events_ingest(
        environment=world.prod_a, payloads=payloads + [{"name": "app/y"}], source="dashboard"
    )
    assert first.created and not again.created and other.created
    assert again.event == first.event and Event.objects.count() == 2


@pytest.mark.django_db
def test_a_seeded_id_taken_in_another_environment_gets_a_fresh_id(world):
    [theirs] = events_ingest(
        environment=world.prod_b, payloads=[{"name": "app/x"}], source="api", id_seed=SEED
    )
    assert theirs.event.public_id == seeded_ulids(SEED, 1)[0]
    [mine] = events_ingest(
        environment=world.prod_a, payloads=[{"name": "app/x"}], source="api", id_seed=SEED
    )
    assert mine.created and mine.event.public_id != theirs.event.public_id
    assert Event.objects.get(public_id=theirs.event.public_id).environment == world.prod_b


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_of_the_same_id_store_it_once(world):
    """Two requests racing with the same idempotency key (an SDK retry while the first is still
    in flight): the second waits for the first and answers its event."""
    barrier, results, errors = threading.Barrier(4), [], []

    def send(payloads, seed):
        try:
            barrier.wait()
            results.append(
                events_ingest(
                    environment=world.prod_a, payloads=payloads, source="api", id_seed=seed
                )
            )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    by_id = [{"name": "app/x", "id": "order-7"}]
    threads = [threading.Thread(target=send, args=(by_id, None)) for _ in range(2)]
    threads += [threading.Thread(target=send, args=([{"name": "app/s"}], SEED)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Event.objects.filter(external_id="order-7").count() == 1
    assert Event.objects.filter(name="app/s").count() == 1
    assert len({r[0].event.public_id for r in results}) == 2
    assert sorted(r[0].created for r in results) == [False, False, True, True]


def test_validation_normalizes_what_senders_may_omit():
    [event] = normalize_events([{"name": "app/x", "data": None, "ts": 0, "meta": {}}], now_ms=42)
    omitted = {"data": {}, "id": "", "ts": 42, "user": {}, "v": "", "meta": {}}
    assert event == {"name": "app/x", **omitted}
    with pytest.raises(EventRejected) as info:
        normalize_events([{"name": "app/x"}, {"name": "inngest/x"}], now_ms=1)
    assert (info.value.status, info.value.index) == (400, 1)
