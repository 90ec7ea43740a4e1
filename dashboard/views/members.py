"""Members and invitations of an organization."""

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from controlplane.accounts.models import User
from controlplane.accounts.selectors import session_is_verified
from controlplane.accounts.services import user_create
from controlplane.tenancy.models import Role
from controlplane.tenancy.selectors import (
    invitation_by_token,
    invitation_in_organization,
    member_in_organization,
    members_of,
    pending_invitations,
)
from controlplane.tenancy.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_change_role,
    membership_remove,
)
from dashboard.decorators import organization_view
from dashboard.forms import InviteForm, RoleForm, SignUpForm
from dashboard.views.common import apply_errors


def _members_redirect(request):
    return redirect("dashboard:members", org_slug=request.organization.slug)


def _member_or_404(request, member_id: str):
    membership = member_in_organization(organization=request.organization, public_id=member_id)
    if membership is None:
        raise Http404("No such member.")
    return membership


def _role_choices(request):
    allow_owner = request.membership.role == Role.OWNER
    return [c for c in Role.choices if allow_owner or c[0] != Role.OWNER]


@organization_view()
def members(request):
    context = {
        "members": members_of(request.organization),
        "invitations": pending_invitations(request.organization),
        "invite_form": InviteForm(allow_owner=request.membership.role == Role.OWNER),
        "role_choices": _role_choices(request),
        "can_manage": request.membership.allows(Role.ADMIN),
    }
    return render(request, "dashboard/members.html", context)


@organization_view(min_role=Role.ADMIN)
@require_POST
def member_invite(request):
    form = InviteForm(request.POST, allow_owner=request.membership.role == Role.OWNER)
    link = None
    if form.is_valid():
        try:
            invitation, token = invitation_create(
                organization=request.organization,
                actor_membership=request.membership,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            link = request.build_absolute_uri(f"/invite/{token}/")
            form = InviteForm(allow_owner=request.membership.role == Role.OWNER)
    context = {
        "invite_form": form,
        "invite_link": link,
        "invitations": pending_invitations(request.organization),
    }
    if request.htmx:
        return render(request, "dashboard/members.html#invite-panel", context)
    return render(
        request,
        "dashboard/members.html",
        {
            **context,
            "members": members_of(request.organization),
            "role_choices": _role_choices(request),
            "can_manage": True,
        },
    )


@organization_view(min_role=Role.ADMIN)
@require_POST
def member_role(request, member_id):
    membership = _member_or_404(request, member_id)
    form = RoleForm(request.POST)
    error = None
    try:
        if not form.is_valid():
            raise ValidationError("Choose a valid role.")
        membership_change_role(
            membership=membership,
            actor_membership=request.membership,
            role=form.cleaned_data["role"],
        )
    except (ValidationError, PermissionDenied) as exc:
        error = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        membership.refresh_from_db()
    if not request.htmx:
        if error:
            messages.error(request, error)
        return _members_redirect(request)
    context = {
        "member": membership,
        "role_choices": _role_choices(request),
        "can_manage": True,
        "row_error": error,
    }
    return render(request, "dashboard/members.html#member-row", context)


@organization_view(min_role=Role.ADMIN)
@require_POST
def member_remove(request, member_id):
    membership = _member_or_404(request, member_id)
    try:
        membership_remove(membership=membership, actor_membership=request.membership)
    except (ValidationError, PermissionDenied) as exc:
        error = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        if not request.htmx:
            messages.error(request, error)
            return _members_redirect(request)
        context = {
            "member": membership,
            "role_choices": _role_choices(request),
            "can_manage": True,
            "row_error": error,
        }
        return render(request, "dashboard/members.html#member-row", context)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"{membership.user.email} was removed.")
    return _members_redirect(request)


@organization_view(min_role=Role.ADMIN)
@require_POST
def invitation_cancel(request, invitation_id):
    invitation = invitation_in_organization(
        organization=request.organization, public_id=invitation_id
    )
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        invitation_revoke(invitation=invitation, actor_membership=request.membership)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return _members_redirect(request)
    if request.htmx:
        return HttpResponse("")
    return _members_redirect(request)


def invitation_open(request, token):
    """The link an invited person follows: join (signed in) or create the account (new)."""
    invitation = invitation_by_token(token)
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.expires_at <= timezone.now()
    ):
        return render(request, "auth/invitation_invalid.html", status=404)
    if request.user.is_authenticated and not session_is_verified(request.user):
        return redirect(f"{reverse('account:verify')}?next={request.path}")
    account_exists = User.objects.filter(email__iexact=invitation.email).exists()
    form = (
        SignUpForm(request.POST or None)
        if not request.user.is_authenticated and not account_exists
        else None
    )
    error = None
    if request.method == "POST":
        user = request.user if request.user.is_authenticated else None
        if user is None and form is not None and form.is_valid():
            try:
                user = user_create(
                    email=invitation.email,
                    password=form.cleaned_data["password"],
                    name=form.cleaned_data["name"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if user is not None:
            try:
                invitation_accept(invitation=invitation, user=user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                messages.success(request, f"Welcome to {invitation.organization.name}.")
                return redirect(
                    "dashboard:organization-home", org_slug=invitation.organization.slug
                )
    context = {
        "invitation": invitation,
        "form": form,
        "account_exists": account_exists,
        "error": error,
    }
    return render(request, "auth/invitation.html", context)
