"""Which runs a bulk action acts on, and reading bulk actions through their environment."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from controlplane.bulk.models import BulkAction
from controlplane.expressions import matches
from controlplane.registry.models import Function
from controlplane.runs.models import Run
from controlplane.tenancy.models import Environment


@dataclass(frozen=True)
class RunFilter:
    """Runs of one function queued in [started_after, started_before) with one of `statuses`,
    whose trigger event satisfies `expression` (if any). A run "starts", as Inngest counts it,
    when it is queued: a queued run that no worker picked up yet is in range too."""

    function: Function
    statuses: tuple[str, ...]
    started_after: datetime
    started_before: datetime
    expression: str = ""

    def candidates(self, *, after_id: int = 0, upto_id: int | None = None) -> QuerySet:
        """The runs the database can select; `expression` is checked by `matches` on each."""
        runs = Run.objects.filter(
            function=self.function,
            status__in=self.statuses,
            queued_at__gte=self.started_after,
            queued_at__lt=self.started_before,
            pk__gt=after_id,
        )
        if upto_id is not None:
            runs = runs.filter(pk__lte=upto_id)
        return runs.order_by("pk")

    def matches(self, run: Run) -> bool:
        return not self.expression or matches(
            self.expression, {"event": run.event.as_sdk_payload()}
        )

    def count(self, *, upto_id: int | None = None) -> int:
        runs = self.candidates(upto_id=upto_id)
        if not self.expression:
            return runs.count()
        return sum(self.matches(run) for run in runs.select_related("event").iterator(2000))


def run_filter_of(action: BulkAction) -> RunFilter:
    return RunFilter(
        function=action.function,
        statuses=tuple(action.statuses),
        started_after=action.started_after,
        started_before=action.started_before,
        expression=action.expression,
    )


def bulk_action_in_environment(
    *, environment: Environment, public_id: str, kind: str | None = None
) -> BulkAction | None:
    actions = environment.bulk_actions.select_related("function__app")
    if kind:
        actions = actions.filter(kind=kind)
    return actions.filter(public_id=public_id).first()


def bulk_actions_page(
    *, environment: Environment, kind: str | None = None, after: str | None, limit: int
) -> tuple[list[BulkAction], str | None]:
    """Newest first, keyset-paginated by public id (a ULID): `after` is the previous page's last
    action. Returns the page and the `after` of the next one (None on the last page)."""
    actions = environment.bulk_actions.select_related("function__app")
    if kind:
        actions = actions.filter(kind=kind)
    if after:
        actions = actions.filter(public_id__lt=after)
    rows = list(actions.order_by("-public_id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more else None
