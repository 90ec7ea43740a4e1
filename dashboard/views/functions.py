"""An environment's functions, with their triggers and configuration as the SDK declared them."""

from django.http import Http404
from django.shortcuts import render

from controlplane.registry.cron import cron_next_times
from controlplane.registry.selectors import function_in_environment, functions_of
from controlplane.tenancy.models import Role
from dashboard.charts import run_charts
from dashboard.decorators import environment_view

# Flow control and the other settings a function may declare, in the order the page lists them.
DECLARED = [
    ("concurrency", "Concurrency"),
    ("rateLimit", "Rate limit"),
    ("throttle", "Throttle"),
    ("debounce", "Debounce"),
    ("batchEvents", "Batching"),
    ("priority", "Priority"),
    ("idempotency", "Idempotency"),
    ("singleton", "Singleton"),
    ("cancel", "Cancel on"),
    ("timeouts", "Timeouts"),
    # The TS SDK keeps its checkpointing settings (buffered steps, interval, max runtime) to
    # itself; an SDK that declares them at sync has them shown here.
    ("checkpoint", "Checkpointing"),
]


@environment_view()
def function_list(request):
    return render(
        request, "dashboard/functions.html", {"functions": functions_of(request.environment)}
    )


@environment_view()
def function_detail(request, function_id):
    function = function_in_environment(environment=request.environment, public_id=function_id)
    if function is None:
        raise Http404("No such function.")
    crons = [(t, cron_next_times(t.cron)) for t in function.triggers.all() if t.cron]
    declared = [(label, function.config.get(key)) for key, label in DECLARED]
    context = {
        "function": function,
        "event_triggers": [t for t in function.triggers.all() if t.event_name],
        "crons": crons,
        "retries": function.max_attempts - 1,
        "retries_declared": "retries" in function.config["steps"]["step"],
        "declared": declared,
        "can_act": request.membership.allows(Role.MEMBER),
        "run_charts": run_charts(
            environment=request.environment,
            function=function,
            window_name=request.GET.get("range", "day"),
        ),
    }
    return render(request, "dashboard/function_detail.html", context)
