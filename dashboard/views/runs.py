"""Runs: the list, one run's page with its live timeline, and cancelling or replaying it."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from controlplane.engine.actions import ReplayRefused, run_cancel_by, run_replay
from controlplane.ids import is_ulid
from controlplane.runs.selectors import (
    run_for_page,
    run_last_history_id,
    run_timeline,
    runs_page,
)
from controlplane.tenancy.models import Role
from dashboard.decorators import environment_view
from dashboard.forms import RunFilterForm
from dashboard.live import run_page_context
from dashboard.views.common import flash


@environment_view()
def run_list(request):
    form = RunFilterForm(request.GET or None, environment=request.environment)
    page = runs_page(
        environment=request.environment,
        filters=form.filters(),
        after=request.GET.get("after") or None,
    )
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "paged": "after" in request.GET,
    }
    return render(request, "dashboard/runs.html", context)


def _run_or_404(request, run_id: str):
    run = is_ulid(run_id) and run_for_page(environment=request.environment, public_id=run_id)
    if not run:
        raise Http404("No such run.")
    return run


@environment_view()
def run_detail(request, run_id):
    # The timeline's last row first, then what the page shows (the run again, its steps as of
    # that row): its socket sends everything after that row, so nothing is missed or doubled.
    last = run_last_history_id(_run_or_404(request, run_id))
    run = _run_or_404(request, run_id)
    context = {
        **run_page_context(run, run_timeline(run=run, upto=last)),
        "last_history_id": last,
        "events": list(run.events.order_by("id")),
        "can_act": request.membership.allows(Role.MEMBER),
    }
    return render(request, "dashboard/run_detail.html", context)


@environment_view()
def run_actions(request, run_id):
    """The cancel/replay buttons alone: what a live page re-fetches when the status changes."""
    run = _run_or_404(request, run_id)
    context = {"run": run, "can_act": request.membership.allows(Role.MEMBER)}
    return render(request, "dashboard/run_detail.html#run-actions", context)


def _run_url(request, run) -> str:
    return reverse(
        "dashboard:run-detail",
        args=[request.organization.slug, request.environment.slug, run.public_id],
    )


def _to_run(request, run):
    url = _run_url(request, run)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@environment_view(min_role=Role.MEMBER)
@require_POST
def run_cancel(request, run_id):
    run = _run_or_404(request, run_id)
    run_cancel_by(run=run, actor=request.user)
    return _to_run(request, run)


@environment_view(min_role=Role.MEMBER)
@require_POST
def run_replay_view(request, run_id):
    run = _run_or_404(request, run_id)
    try:
        replay = run_replay(run=run, actor=request.user)
    except ReplayRefused as refused:
        return flash(request, str(refused), _run_url(request, run))
    return _to_run(request, replay)
