"""Home, organization creation, organization settings and the audit log."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from controlplane.tenancy.models import Role
from controlplane.tenancy.selectors import audit_entries, default_environment, memberships_for_user
from controlplane.tenancy.services import organization_create, organization_update
from dashboard.decorators import organization_view, signed_in_view
from dashboard.forms import OrganizationForm, OrganizationSettingsForm
from dashboard.views.common import apply_errors

AUDIT_PAGE_SIZE = 50


@signed_in_view
def home(request):
    memberships = memberships_for_user(request.user)
    if not memberships:
        return redirect("dashboard:organization-new")
    return redirect("dashboard:organization-home", org_slug=memberships[0].organization.slug)


@signed_in_view
def organization_new(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organization_create(name=form.cleaned_data["name"], owner=request.user)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect("dashboard:organization-home", org_slug=organization.slug)
    return render(request, "dashboard/organization_new.html", {"form": form})


@organization_view()
def organization_home(request):
    environment = default_environment(request.organization)
    if environment is None:
        return redirect("dashboard:organization-settings", org_slug=request.organization.slug)
    return redirect(
        "dashboard:environment-home", org_slug=request.organization.slug, env_slug=environment.slug
    )


@organization_view(min_role=Role.ADMIN)
def organization_settings(request):
    organization = request.organization
    initial = {"name": organization.name, "require_two_factor": organization.require_two_factor}
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            organization_update(organization=organization, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("dashboard:organization-settings", org_slug=organization.slug)
    return render(request, "dashboard/organization_settings.html", {"form": form})


@organization_view(min_role=Role.ADMIN)
def audit_log(request):
    entries = audit_entries(
        request.organization, before=request.GET.get("before"), limit=AUDIT_PAGE_SIZE + 1
    )
    next_before = entries[AUDIT_PAGE_SIZE - 1].public_id if len(entries) > AUDIT_PAGE_SIZE else None
    return render(
        request,
        "dashboard/audit_log.html",
        {"entries": entries[:AUDIT_PAGE_SIZE], "next_before": next_before},
    )
