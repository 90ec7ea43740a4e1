"""Environment pages."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.tenancy.models import EnvironmentKind, Role
from controlplane.tenancy.selectors import environment_in_organization, environments_of
from controlplane.tenancy.services import (
    environment_create,
    environment_rename,
    environment_set_archived,
)
from dashboard.charts import run_charts
from dashboard.decorators import environment_view, organization_view
from dashboard.forms import EnvironmentForm
from dashboard.views.common import apply_errors, flash


def server_url(request) -> str:
    return settings.PUBLIC_URL or f"{request.scheme}://{request.get_host()}"


@environment_view()
def environment_home(request):
    charts = run_charts(
        environment=request.environment, window_name=request.GET.get("range", "day")
    )
    return render(
        request,
        "dashboard/environment_home.html",
        {"server_url": server_url(request), "run_charts": charts},
    )


@organization_view(min_role=Role.ADMIN)
def environment_list(request):
    form = EnvironmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            environment = environment_create(
                organization=request.organization,
                actor=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"] or None,
                kind=EnvironmentKind.CUSTOM,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{environment.name} is ready, with its own signing key.")
            return redirect("dashboard:environments", org_slug=request.organization.slug)
    context = {"environments": environments_of(request.organization), "form": form}
    return render(request, "dashboard/environments.html", context)


@organization_view(min_role=Role.ADMIN)
@require_POST
def environment_edit(request, env_slug):
    environment = environment_in_organization(organization=request.organization, slug=env_slug)
    if environment is None:
        raise Http404("No such environment.")
    try:
        if "archived" in request.POST:
            archived = request.POST["archived"] == "true"
            environment_set_archived(environment=environment, actor=request.user, archived=archived)
        else:
            environment_rename(
                environment=environment, actor=request.user, name=request.POST.get("name", "")
            )
    except ValidationError as exc:
        return flash(
            request,
            " ".join(exc.messages),
            reverse("dashboard:environments", args=[request.organization.slug]),
        )
    if request.htmx:
        return render(request, "dashboard/environments.html#environment-row", {"env": environment})
    return redirect("dashboard:environments", org_slug=request.organization.slug)
