"""An environment's event keys and signing keys."""

from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.keys.selectors import (
    event_key_in_environment,
    event_keys_of,
    signing_key_in_environment,
    signing_keys_of,
)
from controlplane.keys.services import (
    event_key_create,
    event_key_delete,
    event_key_set_enabled,
    event_key_update,
    signing_key_create_next,
    signing_key_promote,
    signing_key_reveal,
    signing_key_revoke,
)
from controlplane.tenancy.models import Role
from dashboard.decorators import environment_view
from dashboard.forms import EventKeyFilterForm, NameForm
from dashboard.views.auth import recently_authenticated
from dashboard.views.common import apply_errors, flash

TEMPLATE = "dashboard/keys.html"


def _keys_url(request) -> str:
    return reverse("dashboard:keys", args=[request.organization.slug, request.environment.slug])


def _can_manage(request) -> bool:
    return request.membership.allows(Role.ADMIN)


def _page_context(request, **extra) -> dict:
    return {
        "event_keys": event_keys_of(request.environment),
        "signing_keys": signing_keys_of(request.environment),
        "can_manage": _can_manage(request),
        "create_form": NameForm(),
        **extra,
    }


def _event_key_or_404(request, key_id):
    event_key = event_key_in_environment(environment=request.environment, public_id=key_id)
    if event_key is None:
        raise Http404("No such event key.")
    return event_key


def _row(request, event_key, **extra):
    """The key's table row (htmx) or the whole page (plain form post)."""
    if not request.htmx:
        return redirect(_keys_url(request))
    context = {"key": event_key, "can_manage": _can_manage(request), **extra}
    return render(request, f"{TEMPLATE}#event-key-row", context)


@environment_view()
def keys(request):
    return render(request, TEMPLATE, _page_context(request))


@environment_view(min_role=Role.ADMIN)
@require_POST
def event_key_new(request):
    form = NameForm(request.POST)
    secret = None
    if form.is_valid():
        try:
            event_key, secret = event_key_create(
                environment=request.environment, actor=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            form = NameForm()
    context = {"create_form": form, "new_secret": secret, "can_manage": True}
    if secret:
        context["key"] = event_key
    if request.htmx:
        return render(request, f"{TEMPLATE}#event-key-create", context)
    return render(request, TEMPLATE, _page_context(request, **context))


@environment_view(min_role=Role.ADMIN)
@require_POST
def event_key_edit(request, key_id):
    event_key = _event_key_or_404(request, key_id)
    name_form = NameForm(request.POST)
    filter_form = EventKeyFilterForm(request.POST)
    try:
        if not (name_form.is_valid() and filter_form.is_valid()):
            raise ValidationError("Check the highlighted fields.")
        event_key_update(
            event_key=event_key,
            actor=request.user,
            name=name_form.cleaned_data["name"],
            mode=filter_form.cleaned_data["mode"],
            events_text=filter_form.cleaned_data["events"],
            networks_text=filter_form.cleaned_data["networks"],
        )
    except ValidationError as exc:
        apply_errors(filter_form, exc)
        event_key.refresh_from_db()
        return _row(
            request, event_key, edit_open=True, filter_form=filter_form, name_form=name_form
        )
    return _row(request, event_key)


@environment_view(min_role=Role.ADMIN)
@require_POST
def event_key_toggle(request, key_id):
    event_key = _event_key_or_404(request, key_id)
    event_key_set_enabled(event_key=event_key, actor=request.user, enabled=not event_key.enabled)
    return _row(request, event_key)


@environment_view(min_role=Role.ADMIN)
@require_POST
def event_key_remove(request, key_id):
    event_key = event_key_in_environment(environment=request.environment, public_id=key_id)
    try:
        if event_key is None:
            raise ValidationError("This key was already deleted.")
        event_key_delete(event_key=event_key, actor=request.user)
    except ValidationError as exc:
        return flash(request, " ".join(exc.messages), _keys_url(request))
    return HttpResponse("") if request.htmx else redirect(_keys_url(request))


def _signing_panel(request, **extra):
    if not request.htmx:
        return redirect(_keys_url(request))
    context = {"signing_keys": signing_keys_of(request.environment), "can_manage": True, **extra}
    return render(request, f"{TEMPLATE}#signing-keys", context)


def _require_fresh_authentication(request):
    """None if the session re-authenticated recently; else a response sending it to do so."""
    if recently_authenticated(request):
        return None
    target = f"{reverse('account:reauthenticate')}?next={quote(_keys_url(request))}"
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


@environment_view(min_role=Role.ADMIN)
@require_POST
def signing_key_next(request):
    if response := _require_fresh_authentication(request):
        return response
    try:
        signing_key, key = signing_key_create_next(
            environment=request.environment, actor=request.user
        )
    except ValidationError as exc:
        return _signing_panel(request, signing_error=" ".join(exc.messages))
    return _signing_panel(request, shown_key=key, shown_key_id=signing_key.public_id)


@environment_view(min_role=Role.ADMIN)
@require_POST
def signing_key_activate(request):
    try:
        signing_key_promote(environment=request.environment, actor=request.user)
    except ValidationError as exc:
        return _signing_panel(request, signing_error=" ".join(exc.messages))
    return _signing_panel(request)


@environment_view(min_role=Role.ADMIN)
@require_POST
def signing_key_delete(request, key_id):
    try:
        signing_key_revoke(environment=request.environment, actor=request.user, public_id=key_id)
    except ValidationError as exc:
        return _signing_panel(request, signing_error=" ".join(exc.messages))
    return _signing_panel(request)


@environment_view(min_role=Role.ADMIN)
@require_POST
def signing_key_show(request, key_id):
    signing_key = signing_key_in_environment(environment=request.environment, public_id=key_id)
    if signing_key is None:
        raise Http404("No such signing key.")
    if response := _require_fresh_authentication(request):
        return response
    key = signing_key_reveal(signing_key=signing_key, actor=request.user)
    return _signing_panel(request, shown_key=key, shown_key_id=signing_key.public_id)
