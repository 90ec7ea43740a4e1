"""The one place where dashboard requests are scoped to a tenant.

`organization_view` / `environment_view` resolve the signed-in user's membership from the URL's
organization slug (and the environment within it). Not a member, or no such object: 404, the
same answer either way. Member with too low a role: 403.
"""

from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from controlplane.accounts.selectors import session_is_verified, user_has_two_factor
from controlplane.tenancy.models import Role
from controlplane.tenancy.selectors import environment_in_organization, membership_for
from controlplane.tenancy.services import environment_ensure_dev_mode


def _verification_redirect(request):
    """Where to send a session that may not see tenant pages yet, or None."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not session_is_verified(request.user):
        return redirect(f"{reverse('account:verify')}?next={quote(request.get_full_path())}")
    return None


def signed_in_view(view):
    """A page for any signed-in person whose session passed their second factor (if enrolled)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        return _verification_redirect(request) or view(request, *args, **kwargs)

    return wrapper


def _resolve_membership(request, org_slug: str, min_role: str):
    membership = membership_for(user=request.user, organization_slug=org_slug)
    if membership is None:
        raise Http404("No such organization.")
    organization = membership.organization
    if organization.require_two_factor and not user_has_two_factor(request.user):
        request.session["two_factor_required_by"] = organization.name
        return None, redirect("account:security")
    if not membership.allows(min_role):
        raise PermissionDenied(f"This needs the {Role(min_role).label.lower()} role or higher.")
    request.organization = organization
    request.membership = membership
    return membership, None


def organization_view(min_role: str = Role.VIEWER):
    def decorator(view):
        @wraps(view)
        def wrapper(request, org_slug, *args, **kwargs):
            if response := _verification_redirect(request):
                return response
            _membership, response = _resolve_membership(request, org_slug, min_role)
            return response or view(request, *args, **kwargs)

        return wrapper

    return decorator


def environment_view(min_role: str = Role.VIEWER):
    def decorator(view):
        @wraps(view)
        def wrapper(request, org_slug, env_slug, *args, **kwargs):
            if response := _verification_redirect(request):
                return response
            membership, response = _resolve_membership(request, org_slug, min_role)
            if response:
                return response
            if settings.DEV_MODE_ENVIRONMENT == "first":
                # Before the environment is read: its first organization may have been made by
                # another process (`manage.py bootstrap`), and its pages say where apps sync.
                environment_ensure_dev_mode()
            environment = environment_in_organization(
                organization=membership.organization, slug=env_slug
            )
            if environment is None:
                raise Http404("No such environment.")
            request.environment = environment
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
