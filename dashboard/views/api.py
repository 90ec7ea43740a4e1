"""An environment's REST API page: its API keys, and the API reference (the OpenAPI document)."""

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.api.v1_openapi import DOCUMENT
from controlplane.keys.selectors import api_key_in_environment, api_keys_of
from controlplane.keys.services import api_key_create, api_key_revoke
from controlplane.tenancy.models import Role
from dashboard.api_reference import operations, schemas
from dashboard.decorators import environment_view
from dashboard.forms import ApiKeyForm
from dashboard.views.common import apply_errors, flash
from dashboard.views.environments import server_url

TEMPLATE = "dashboard/api_keys.html"


def _page_url(request) -> str:
    return reverse("dashboard:api-keys", args=[request.organization.slug, request.environment.slug])


def _context(request, **extra) -> dict:
    return {
        "api_keys": api_keys_of(request.environment),
        "can_manage": request.membership.allows(Role.ADMIN),
        "create_form": ApiKeyForm(),
        "server_url": server_url(request),
        **extra,
    }


@environment_view()
def api_keys(request):
    return render(request, TEMPLATE, _context(request))


@environment_view(min_role=Role.ADMIN)
@require_POST
def api_key_new(request):
    form = ApiKeyForm(request.POST)
    context = {"create_form": form}
    if form.is_valid():
        try:
            key, secret = api_key_create(
                environment=request.environment,
                actor=request.user,
                name=form.cleaned_data["name"],
                access=form.cleaned_data["access"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            context = {"create_form": ApiKeyForm(), "new_secret": secret, "key": key}
    # Without htmx too, the page is rendered (not redirected to): the secret is shown only once.
    template = f"{TEMPLATE}#api-keys" if request.htmx else TEMPLATE
    return render(request, template, _context(request, **context))


@environment_view(min_role=Role.ADMIN)
@require_POST
def api_key_delete(request, key_id):
    key = api_key_in_environment(environment=request.environment, public_id=key_id)
    if key is None:
        raise Http404("No such API key.")
    try:
        api_key_revoke(api_key=key, actor=request.user)
    except ValidationError as exc:
        return flash(request, " ".join(exc.messages), _page_url(request))
    if request.htmx:
        return render(request, f"{TEMPLATE}#api-keys", _context(request))
    return redirect(_page_url(request))


@environment_view()
def api_reference(request):
    context = {
        "info": DOCUMENT["info"],
        "operations": operations(DOCUMENT),
        "schemas": schemas(DOCUMENT),
        "server_url": server_url(request),
    }
    return render(request, "dashboard/api_reference.html", context)
