"""Reads for apps, syncs and functions, always through the environment they belong to."""

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery

from controlplane.registry.models import App, AppSync, Function, FunctionTrigger
from controlplane.registry.wildcards import trigger_patterns
from controlplane.tenancy.models import Environment


def apps_of(environment: Environment) -> list[App]:
    """Live apps first, each with its number of live functions and its latest sync's outcome
    (`latest_sync_status`, `latest_sync_at`)."""
    latest = AppSync.objects.filter(app=OuterRef("pk")).order_by("-started_at")
    apps = environment.apps.annotate(
        function_count=Count("functions", filter=Q(functions__removed_at__isnull=True)),
        latest_sync_status=Subquery(latest.values("status")[:1]),
        latest_sync_at=Subquery(latest.values("started_at")[:1]),
    )
    return list(apps.order_by("archived_at", "app_id"))


def app_in_environment(*, environment: Environment, public_id: str) -> App | None:
    return environment.apps.filter(public_id=public_id).first()


def unattached_syncs(environment: Environment, *, limit: int = 10) -> list[AppSync]:
    """Recent syncs that failed before anyone knew which app they were for."""
    syncs = environment.app_syncs.filter(app__isnull=True).defer("functions")
    return list(syncs.order_by("-started_at")[:limit])


def syncs_of(app: App, *, limit: int = 50) -> list[AppSync]:
    """The app's sync history, newest first (without the registered configs: only the diff)."""
    return list(app.syncs.defer("functions").order_by("-started_at")[:limit])


def sync_in_environment(*, environment: Environment, public_id: str) -> AppSync | None:
    return environment.app_syncs.filter(public_id=public_id).select_related("app").first()


def _with_triggers(functions: QuerySet) -> QuerySet:
    triggers = FunctionTrigger.objects.order_by("cron", "event_name", "pk")
    return functions.select_related("app").prefetch_related(Prefetch("triggers", triggers))


def functions_of(environment: Environment) -> list[Function]:
    """The environment's live functions (removed ones are history), by app then name."""
    functions = environment.functions.filter(removed_at__isnull=True)
    return list(_with_triggers(functions).order_by("app__app_id", "name"))


def functions_of_app(app: App) -> list[Function]:
    return list(_with_triggers(app.functions.filter(removed_at__isnull=True)).order_by("name"))


def function_in_environment(*, environment: Environment, public_id: str) -> Function | None:
    """A function by its public id, removed or not (runs keep pointing at removed ones)."""
    return _with_triggers(environment.functions.filter(public_id=public_id)).first()


def function_by_slug(*, environment: Environment, slug: str) -> Function | None:
    """A function by the composite id the SDK uses ("<app>-<fn>"), e.g. for invoke."""
    return _with_triggers(environment.functions.filter(slug=slug)).first()


def event_triggers_for(*, environment: Environment, event_name: str) -> list[FunctionTrigger]:
    """Triggers that an event of this name may start runs for (expressions still to check):
    those naming it exactly and the wildcards it matches.

    Uses the (environment, event_name) index (its condition repeated for SQLite, which needs
    it stated); only active functions (not removed, not paused, app not archived) qualify.
    """
    return list(
        FunctionTrigger.objects.filter(
            environment=environment,
            event_name__in=trigger_patterns(event_name),
            function__removed_at__isnull=True,
            function__paused_at__isnull=True,
            function__app__archived_at__isnull=True,
        )
        .exclude(event_name="")
        .select_related("function__app")
    )


def app_by_app_id(*, environment: Environment, app_id: str) -> App | None:
    """An app by the id it registers with (the SDK's `appName`), as Inngest's REST API names it."""
    return environment.apps.filter(app_id=app_id).first()


def functions_page(*, app: App, after: str | None, limit: int) -> tuple[list[Function], str | None]:
    """The app's live functions, oldest first (by public id), keyset-paginated: `after` is the
    last function of the previous page. Returns the page and the `after` of the next one."""
    functions = app.functions.filter(removed_at__isnull=True)
    if after:
        functions = functions.filter(public_id__gt=after)
    rows = list(_with_triggers(functions).order_by("public_id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more else None
