"""Writes for apps, their syncs and their functions.

A successful sync changes the function set, the trigger index, the celery-beat rows, the
AppSync history row and the audit log in one transaction. A failed sync writes only a failed
AppSync row, with the reason in plain words, and changes nothing else.
"""

import time

from django.db import transaction
from django.utils import timezone

from controlplane.ids import is_ulid, new_ulid
from controlplane.registry import cron
from controlplane.registry.app_client import SyncFailure, app_introspect, app_request_sync
from controlplane.registry.config import (
    Registration,
    RegistrationError,
    registration_parse,
    strip_deploy_id,
)
from controlplane.registry.diff import functions_diff
from controlplane.registry.models import (
    App,
    AppSync,
    Function,
    FunctionTrigger,
    SyncKind,
    SyncStatus,
)
from controlplane.tenancy.audit import audit_record
from controlplane.tenancy.models import Environment


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _sync_id(candidate) -> str:
    """Use the id the sync was started under (the PUT's deployId) if it is ours to use."""
    usable = isinstance(candidate, str) and is_ulid(candidate)
    if usable and not AppSync.objects.filter(public_id=candidate).exists():
        return candidate
    return new_ulid()


def _sync_failed(
    *, environment, url: str, error: str, kind: str, started_at, duration_ms: int, **extra
) -> AppSync:
    """Record a failed sync against the app it was for, when that app is known."""
    app = extra.pop("app", None) or (environment.apps.filter(url=url).first() if url else None)
    return AppSync.objects.create(
        environment=environment,
        app=app,
        status=SyncStatus.FAILED,
        kind=kind,
        url=url[:2000],
        error=error,
        started_at=started_at,
        duration_ms=duration_ms,
        **extra,
    )


def app_register(
    *,
    environment: Environment,
    payload,
    kind: str,
    actor=None,
    sync_id: str | None = None,
    started_at=None,
) -> AppSync:
    """Apply an app's registration (a /fn/register body or an in-band answer).

    Returns the AppSync row, successful or failed. `sync_id` (the PUT's deployId) becomes the
    row's public id when unused, so whoever asked for the sync finds its outcome.
    """
    started, started_at = time.monotonic(), started_at or timezone.now()
    public_id = _sync_id(sync_id)
    try:
        if environment.is_archived:
            raise RegistrationError(f"{environment.name} is archived: unarchive it to sync apps.")
        registration = registration_parse(payload)
        with transaction.atomic():
            return _apply(environment, registration, kind, actor, public_id, started_at, started)
    except RegistrationError as exc:
        raw = payload if isinstance(payload, dict) else {}
        url = raw.get("url") if isinstance(raw.get("url"), str) else ""
        app_id = next((raw[k] for k in ("appName", "appname", "app_id") if raw.get(k)), None)
        return _sync_failed(
            environment=environment,
            app=environment.apps.filter(app_id=app_id).first() if isinstance(app_id, str) else None,
            url=strip_deploy_id(url),
            error=str(exc),
            kind=kind,
            started_at=started_at,
            duration_ms=_elapsed_ms(started),
            public_id=public_id,
        )


def _apply(environment, registration: Registration, kind, actor, public_id, started_at, started):
    app, created = App.objects.select_for_update().get_or_create(
        environment=environment, app_id=registration.app_id, defaults={"url": registration.url}
    )
    after = {config["id"]: config for config in registration.functions}
    functions = {
        fn.slug: fn for fn in environment.functions.select_for_update().filter(slug__in=list(after))
    }
    taken = [fn for fn in functions.values() if fn.app_id != app.pk and fn.removed_at is None]
    if taken:
        owners = ", ".join(f"{fn.slug} (app {fn.app.app_id})" for fn in taken)
        raise RegistrationError(f"Another app of this environment already declares {owners}.")
    live = list(app.functions.filter(removed_at__isnull=True).prefetch_related("triggers"))
    diff = functions_diff({fn.slug: fn.config for fn in live}, after)
    enabled = not app.is_archived
    for slug, config in after.items():
        function = functions.get(slug) or Function(environment=environment, slug=slug, version=0)
        if function.pk is None or function.config != config:
            function.version += 1
        function.app, function.name, function.config = app, config["name"], config
        function.removed_at = None
        function.save()
        _triggers_replace(function, config.get("triggers", []), enabled=enabled)
    now = timezone.now()
    for function in live:
        if function.slug not in after:
            _triggers_replace(function, [], enabled=enabled)
            function.removed_at = now
            function.save(update_fields=["removed_at", "updated_at"])
    app.url, app.sdk, app.framework = registration.url, registration.sdk, registration.framework
    app.app_version, app.last_synced_at = registration.app_version, now
    app.save()
    sync = AppSync.objects.create(
        public_id=public_id,
        environment=environment,
        app=app,
        status=SyncStatus.SUCCESS,
        kind=kind,
        url=registration.url,
        sdk=registration.sdk,
        framework=registration.framework,
        diff=diff,
        functions=registration.functions,
        started_at=started_at,
        duration_ms=_elapsed_ms(started),
    )
    audit_record(
        organization=environment.organization,
        environment=environment,
        actor=actor,
        action="app.synced",
        target=app,
        data={"sync": sync.public_id, "kind": kind, "created": created, **diff},
    )
    return sync


def _triggers_replace(function: Function, triggers: list[dict], *, enabled: bool) -> None:
    """Make the trigger index (and cron rows) match the declared triggers, keeping unchanged
    rows so their celery-beat schedules are not recreated on every sync."""
    wanted = []
    for trigger in triggers:
        key = (trigger.get("event", ""), trigger.get("expression", ""), trigger.get("cron", ""))
        if key not in wanted:
            wanted.append(key)
    stale = []
    for row in function.triggers.all():
        key = (row.event_name, row.expression, row.cron)
        if key in wanted:
            wanted.remove(key)
        else:
            stale.append(row)
    cron.cron_tasks_delete(stale)
    FunctionTrigger.objects.filter(pk__in=[row.pk for row in stale]).delete()
    for event_name, expression, cron_text in wanted:
        row = FunctionTrigger.objects.create(
            environment=function.environment,
            function=function,
            event_name=event_name,
            expression=expression,
            cron=cron_text,
        )
        if cron_text:
            cron.cron_task_create(trigger=row, enabled=enabled)


def app_sync_from_url(
    *, environment: Environment, url: str, actor, app: App | None = None
) -> AppSync:
    """Ask the app at `url` to sync (PROTOCOL.md 2.1) and return the resulting AppSync.

    In-band answers are applied here. Out-of-band, the app posts its registration to
    /fn/register with our sync id as `deployId` before it answers the PUT, so by then the
    AppSync row with that id exists; if it does not, the registration never reached us (or
    reached another environment) and a failed row says why.
    """
    url = strip_deploy_id(url.strip())
    started, started_at, sync_id = time.monotonic(), timezone.now(), new_ulid()
    try:
        app_introspect(environment=environment, url=url)
        answer = app_request_sync(environment=environment, url=url, sync_id=sync_id)
    except SyncFailure as exc:
        error = str(exc)
    else:
        if answer.in_band:
            return app_register(
                environment=environment,
                payload=answer.payload,
                kind=SyncKind.IN_BAND,
                actor=actor,
                sync_id=sync_id,
                started_at=started_at,
            )
        registered = environment.app_syncs.filter(public_id=sync_id).first()
        if registered is not None:
            return registered
        error = _out_of_band_error(
            answer.payload, elsewhere=AppSync.objects.filter(public_id=sync_id).exists()
        )
    return _sync_failed(
        environment=environment,
        app=app,
        url=url,
        error=error,
        kind="",
        started_at=started_at,
        duration_ms=_elapsed_ms(started),
    )


def _out_of_band_error(answer: dict, *, elsewhere: bool) -> str:
    if elsewhere:
        return (
            "The app registered with another environment's signing key: set its "
            "INNGEST_SIGNING_KEY to this environment's key."
        )
    said = answer.get("error") or answer.get("message") or "no explanation"
    return f"The app could not register with this server: {said}"


@transaction.atomic
def app_set_archived(*, app: App, actor, archived: bool) -> None:
    """Archive (its functions start no new runs; runs in flight finish) or unarchive an app.

    Side effects: the app row, its cron rows disabled/enabled, an audit entry.
    """
    if archived == app.is_archived:
        return
    app.archived_at = timezone.now() if archived else None
    app.save(update_fields=["archived_at"])
    cron.cron_tasks_set_enabled(app=app, enabled=not archived)
    audit_record(
        organization=app.environment.organization,
        environment=app.environment,
        actor=actor,
        action="app.archived" if archived else "app.unarchived",
        target=app,
    )
