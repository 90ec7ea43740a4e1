"""A person's own security settings: two-factor enrollment, backup codes, password."""

import time
from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.accounts.selectors import backup_codes_remaining, user_has_two_factor
from controlplane.accounts.services import (
    backup_codes_regenerate,
    totp_enrollment_confirm,
    totp_enrollment_start,
    two_factor_disable,
)
from controlplane.live import sockets_recheck
from controlplane.tenancy.selectors import memberships_for_user
from dashboard.decorators import signed_in_view
from dashboard.forms import CodeForm, PasswordConfirmForm
from dashboard.views.auth import REAUTH_KEY


def _orgs_requiring_two_factor(user) -> list[str]:
    return [
        m.organization.name for m in memberships_for_user(user) if m.organization.require_two_factor
    ]


@signed_in_view
def security(request):
    user = request.user
    context = {
        "two_factor": user_has_two_factor(user),
        "backup_codes_remaining": backup_codes_remaining(user),
        "required_by": request.session.pop("two_factor_required_by", None),
        "orgs_requiring": _orgs_requiring_two_factor(user),
        "disable_form": PasswordConfirmForm(),
    }
    return render(request, "account/security.html", context)


@require_POST
@signed_in_view
def totp_start(request):
    totp_enrollment_start(user=request.user)
    return redirect("account:totp-enroll")


@signed_in_view
def totp_enroll(request):
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        return redirect("account:security")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_enrollment_confirm(
                user=request.user, device=device, token=form.cleaned_data["code"]
            )
        except ValidationError as exc:
            form.add_error("code", exc.error_dict["token"] if hasattr(exc, "error_dict") else exc)
        else:
            device.refresh_from_db()
            otp_login(request, device)
            request.session[REAUTH_KEY] = time.time()
            messages.success(request, "Two-factor authentication is on.")
            return render(request, "account/backup_codes.html", {"codes": codes})
    secret = b32encode(device.bin_key).decode()
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#111827")
    return render(
        request, "account/totp_enroll.html", {"form": form, "secret": secret, "qr_svg": qr_svg}
    )


@require_POST
@signed_in_view
def backup_codes_new(request):
    if not user_has_two_factor(request.user):
        return redirect("account:security")
    codes = backup_codes_regenerate(user=request.user)
    return render(request, "account/backup_codes.html", {"codes": codes, "regenerated": True})


@require_POST
@signed_in_view
def two_factor_off(request):
    form = PasswordConfirmForm(request.POST)
    if orgs := _orgs_requiring_two_factor(request.user):
        messages.error(
            request, f"{', '.join(orgs)} requires two-factor authentication; it stays on."
        )
    elif form.is_valid() and request.user.check_password(form.cleaned_data["password"]):
        two_factor_disable(user=request.user)
        messages.success(request, "Two-factor authentication is off.")
    else:
        messages.error(request, "That password is not right; two-factor authentication stays on.")
    return redirect("account:security")


@signed_in_view
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        sockets_recheck(user_ids=[form.user.pk])  # the other sessions' sockets close
        messages.success(request, "Your password is changed; other sessions are signed out.")
        return redirect("account:security")
    return render(request, "account/password.html", {"form": form})
