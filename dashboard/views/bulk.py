"""Bulk cancel and bulk replay in the dashboard: the form with a live count of matching runs,
the progress page (polled while it runs), stopping, and the environment's list."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from controlplane.bulk.models import BulkKind
from controlplane.bulk.selectors import bulk_action_in_environment, bulk_actions_page
from controlplane.bulk.services import bulk_action_create, bulk_action_stop
from controlplane.registry.selectors import function_in_environment
from controlplane.tenancy.models import Role
from dashboard.bulk_forms import BulkActionForm
from dashboard.decorators import environment_view

PAGE = 50


@environment_view(min_role=Role.MEMBER)
def bulk_new(request, function_id, kind):
    """GET: the form. POST with `preview`: the number of runs it would act on (htmx).
    POST: start it and go to its progress page."""
    function = function_in_environment(environment=request.environment, public_id=function_id)
    if function is None:
        raise Http404("No such function.")
    form = BulkActionForm(request.POST or None, function=function, kind=kind)
    context = {"form": form, "function": function, "kind": BulkKind(kind)}
    if "preview" in request.POST:
        if form.is_valid():
            context["matched"] = form.cleaned_data["run_filter"].count()
        return render(request, "dashboard/bulk_new.html#preview", context)
    if request.method == "POST" and form.is_valid():
        action = bulk_action_create(
            run_filter=form.cleaned_data["run_filter"],
            kind=kind,
            actor=request.user,
            actor_label=request.user.email,
            name=form.cleaned_data["name"],
            pace=form.cleaned_data.get("pace"),
        )
        return _to_detail(request, action)
    return render(request, "dashboard/bulk_new.html", context)


@environment_view()
def bulk_list(request):
    actions, after = bulk_actions_page(
        environment=request.environment, after=request.GET.get("after") or None, limit=PAGE
    )
    return render(request, "dashboard/bulk_list.html", {"actions": actions, "after": after})


@environment_view()
def bulk_detail(request, bulk_id):
    """The progress page; htmx polls it for the `progress` partial until the action ends."""
    action = _action_or_404(request, bulk_id)
    context = {"action": action, "can_act": request.membership.allows(Role.MEMBER)}
    template = "dashboard/bulk_detail.html" + ("#progress" if request.htmx else "")
    return render(request, template, context)


@environment_view(min_role=Role.MEMBER)
@require_POST
def bulk_stop(request, bulk_id):
    action = _action_or_404(request, bulk_id)
    bulk_action_stop(action=action, actor=request.user, actor_label=request.user.email)
    return _to_detail(request, action)


def _action_or_404(request, bulk_id):
    action = bulk_action_in_environment(environment=request.environment, public_id=bulk_id)
    if action is None:
        raise Http404("No such bulk action.")
    return action


def _to_detail(request, action):
    return redirect(
        "dashboard:bulk-detail",
        request.organization.slug,
        request.environment.slug,
        action.public_id,
    )
