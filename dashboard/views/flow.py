"""A function's flow control in the dashboard: live figures, pause and resume, replay skips."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from controlplane.flow.selectors import flow_figures
from controlplane.flow.services import function_pause, function_resume, skipped_replay
from controlplane.registry.selectors import function_in_environment
from controlplane.tenancy.models import Role
from dashboard.decorators import environment_view


def _function_or_404(request, function_id):
    function = function_in_environment(environment=request.environment, public_id=function_id)
    if function is None or function.removed_at is not None:
        raise Http404("No such function.")
    return function


def _back(request, function):
    return redirect(
        "dashboard:function-detail",
        request.organization.slug,
        request.environment.slug,
        function.public_id,
    )


@environment_view()
def function_flow(request, function_id):
    function = _function_or_404(request, function_id)
    context = {
        "function": function,
        "figures": flow_figures(function),
        "can_act": request.membership.allows(Role.MEMBER),
    }
    return render(request, "dashboard/function_flow.html", context)


@environment_view(min_role=Role.MEMBER)
@require_POST
def function_pause_view(request, function_id):
    function = _function_or_404(request, function_id)
    cancelled = function_pause(
        function=function,
        actor=request.user,
        cancel_running=request.POST.get("cancel_running") == "on",
    )
    note = (
        f" and {cancelled} running run{'s' if cancelled != 1 else ''} cancelled"
        if cancelled
        else ""
    )
    messages.success(
        request, f"{function.name} is paused{note}: new events are recorded as skipped."
    )
    return _back(request, function)


@environment_view(min_role=Role.MEMBER)
@require_POST
def function_resume_view(request, function_id):
    function = _function_or_404(request, function_id)
    function_resume(function=function, actor=request.user)
    messages.success(request, f"{function.name} runs again.")
    return _back(request, function)


@environment_view(min_role=Role.MEMBER)
@require_POST
def skipped_replay_view(request, function_id):
    function = _function_or_404(request, function_id)
    if function.paused_at is not None:
        messages.error(request, "Resume the function before replaying the events it skipped.")
        return _back(request, function)
    started = skipped_replay(function=function, actor=request.user)
    messages.success(
        request, f"Started {started} run{'s' if started != 1 else ''} for skipped events."
    )
    return _back(request, function)
