"""Syncing real apps built with the official Python and TypeScript SDKs, in cloud and dev mode."""

import json

import httpx
import pytest
from django_celery_beat.models import PeriodicTask

from controlplane.registry.models import App, AppSync, Function
from controlplane.registry.selectors import event_triggers_for, function_by_slug
from controlplane.registry.services import app_sync_from_url
from controlplane.tenancy.services import environment_set_dev_mode
from tests.sync_fixtures import SLUGS, install_signing_key

pytestmark = pytest.mark.django_db(transaction=True)
SDKS = ["python", "ts"]


def sync(environment, app, actor):
    return app_sync_from_url(environment=environment, url=app.url, actor=actor)


def live(environment, app_id) -> dict[str, Function]:
    functions = Function.objects.filter(
        environment=environment, app__app_id=app_id, removed_at__isnull=True
    )
    return {fn.slug.removeprefix(f"{app_id}-"): fn for fn in functions}


def cron_tasks(environment) -> dict[str, dict]:
    prefix = f"{environment.organization.slug}/{environment.slug}: "
    return {
        task.name: json.loads(task.kwargs)
        for task in PeriodicTask.objects.filter(name__startswith=prefix)
    }


def check_declared_config(environment, sdk: str, app_id: str) -> None:
    functions = live(environment, app_id)
    assert set(functions) == SLUGS[sdk]
    nightly, flow = functions["nightly"], functions["flow"]
    assert nightly.name == "Nightly report" and nightly.max_attempts == 3
    assert [t.cron for t in nightly.triggers.all()] == ["TZ=Europe/Paris 0 3 * * *"]
    [trigger] = flow.triggers.all()
    assert (trigger.event_name, trigger.expression) == ("test/flow", "event.data.ok == true")
    assert flow.config["concurrency"] == [{"limit": 5, "key": "event.data.user"}]
    assert flow.step_url.endswith(f"/api/inngest?fnId={app_id}-flow&stepId=step")
    assert "deployId" not in json.dumps([fn.config for fn in functions.values()])
    name = f"org-a/{environment.slug}: {app_id}-nightly cron TZ=Europe/Paris 0 3 * * *"
    assert cron_tasks(environment) == {
        name: {"function": nightly.public_id, "cron": "TZ=Europe/Paris 0 3 * * *"}
    }
    task = PeriodicTask.objects.get(name=name)
    assert task.task == "controlplane.engine.tasks.fire_cron" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "0",
        "3",
        "Europe/Paris",
    )


@pytest.mark.parametrize("sdk", SDKS)
def test_it_syncs_a_cloud_app_in_band_with_a_verified_signature(apps, world, sdk):
    install_signing_key(world.prod_a, "signkey-prod-" + "5a" * 32)
    app = apps.get(sdk, "cloud")
    result = sync(world.prod_a, app, world.owner)
    assert result.status == "success", result.error
    assert (result.kind, result.url, result.app.app_id) == ("in_band", app.url, f"{sdk[:2]}-cloud")
    assert result.sdk == {"python": "py:v0.5.19", "ts": "js:v4.24.0"}[sdk]
    assert result.framework == {"python": "flask", "ts": "nodejs"}[sdk]
    assert result.diff["added"] == sorted(f"{sdk[:2]}-cloud-{slug}" for slug in SLUGS[sdk])
    check_declared_config(world.prod_a, sdk, f"{sdk[:2]}-cloud")


@pytest.mark.parametrize(("sdk", "kind"), [("python", "out_of_band"), ("ts", "in_band")])
def test_it_syncs_a_dev_mode_app_unsigned_into_the_dev_mode_environment(apps, world, sdk, kind):
    """Python in dev mode always answers out-of-band; TS answers in-band, unsigned."""
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    result = sync(world.dev_a, apps.get(sdk, "dev"), world.member)
    assert (result.status, result.kind) == ("success", kind), result.error
    check_declared_config(world.dev_a, sdk, f"{sdk[:2]}-dev")
    assert not App.objects.filter(environment=world.prod_a).exists()


def test_an_out_of_band_registration_is_linked_to_the_sync_that_asked_for_it(apps, world):
    install_signing_key(world.prod_a, "signkey-prod-" + "5a" * 32)
    app = apps.get("ts", "cloud", INNGEST_ALLOW_IN_BAND_SYNC="false")
    result = sync(world.prod_a, app, world.owner)
    assert (result.status, result.kind) == ("success", "out_of_band"), result.error
    assert AppSync.objects.get() == result  # the registration's own row, found by deployId
    check_declared_config(world.prod_a, "ts", "ts-cloud")


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("mode", ["cloud", "dev"])
def test_an_app_can_start_a_sync_itself(apps, world, sdk, mode):
    """`curl -X PUT <app>`: the SDK registers on /fn/register, no dashboard involved."""
    install_signing_key(world.prod_a, "signkey-prod-" + "5a" * 32)
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    app = apps.get(sdk, mode)
    response = httpx.put(app.url, timeout=15)
    # (TS strips x-inngest-* headers from answers to unsigned requests: check the outcome.)
    assert response.status_code == 200, response.text
    environment = world.prod_a if mode == "cloud" else world.dev_a
    assert set(live(environment, f"{sdk[:2]}-{mode}")) == SLUGS[sdk]
    assert AppSync.objects.get().kind == "out_of_band"


@pytest.mark.parametrize("sdk", SDKS)
def test_a_resync_after_a_code_change_shows_the_diff_and_moves_cron_rows(apps, world, sdk):
    install_signing_key(world.prod_a, "signkey-prod-" + "5a" * 32)
    first = apps.get(sdk, "cloud")
    assert sync(world.prod_a, first, world.owner).status == "success"
    before = live(world.prod_a, f"{sdk[:2]}-cloud")
    port = first.port
    apps.stop(first)  # redeploy the changed code at the same URL
    changed = apps.get(sdk, "cloud", port=port, APP_VARIANT="2")
    try:
        result = app_sync_from_url(
            environment=world.prod_a, url=changed.url, actor=world.owner, app=None
        )
        assert result.status == "success", result.error
        prefix = f"{sdk[:2]}-cloud-"
        assert result.diff["added"] == [] and result.diff["removed"] == [prefix + "retired"]
        changes = {c["function"]: c["fields"] for c in result.diff["changed"]}
        assert changes == {
            prefix + "flow": [
                {
                    "field": "concurrency",
                    "before": [{"limit": 5, "key": "event.data.user"}],
                    "after": [{"limit": 2, "key": "event.data.user"}],
                }
            ],
            prefix + "nightly": [
                {
                    "field": "triggers",
                    "before": [{"cron": "TZ=Europe/Paris 0 3 * * *"}],
                    "after": [{"cron": "TZ=Europe/Paris 0 4 * * *"}],
                }
            ],
        }
        after = live(world.prod_a, f"{sdk[:2]}-cloud")
        assert "retired" not in after
        assert after["flow"].version == before["flow"].version + 1
        assert after["hello"].version == before["hello"].version
        assert list(cron_tasks(world.prod_a).values()) == [
            {"function": after["nightly"].public_id, "cron": "TZ=Europe/Paris 0 4 * * *"}
        ]
        assert event_triggers_for(environment=world.prod_a, event_name="test/retired") == []
        retired = function_by_slug(environment=world.prod_a, slug=prefix + "retired")
        assert retired.removed_at is not None
    finally:
        apps.stop(changed)
