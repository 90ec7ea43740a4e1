"""First-run setup, sign-in with a second factor, sign-out."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.accounts.models import User
from controlplane.accounts.selectors import session_is_verified, user_has_two_factor
from controlplane.accounts.services import normalize_backup_code, user_create
from controlplane.accounts.throttle import (
    signin_failure_record,
    signin_lockout,
    signin_success_record,
)
from controlplane.live import sockets_recheck
from controlplane.tenancy.services import organization_create
from dashboard.decorators import signed_in_view
from dashboard.forms import CodeForm, ReauthForm, SetupForm, SignInForm
from dashboard.views.common import apply_errors, client_address, safe_next

PENDING_KEY = "signin_pending"
REAUTH_KEY = "reauthenticated_at"
_BACKEND = "django.contrib.auth.backends.ModelBackend"


def setup(request):
    """Create the first owner and their organization; only while no account exists."""
    if User.objects.exists():
        raise Http404("This server is already set up.")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                if User.objects.exists():
                    raise Http404("This server is already set up.")
                data = form.cleaned_data
                user = user_create(
                    email=data["email"], password=data["password"], name=data["name"]
                )
                organization_create(name=data["organization"], owner=user)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            login(request, user, backend=_BACKEND)
            request.session[REAUTH_KEY] = time.time()
            messages.success(
                request,
                "Your organization is ready. Protect your account with two-factor authentication.",
            )
            return redirect("account:security")
    return render(request, "auth/setup.html", {"form": form})


def sign_in(request):
    next_url = safe_next(request, reverse("dashboard:home"))
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email, address = form.cleaned_data["email"].strip().lower(), client_address(request)
        if lockout := signin_lockout(email=email, address=address):
            form.add_error(
                None, f"Too many failed attempts. Try again in {lockout.minutes} minutes."
            )
        else:
            user = authenticate(request, username=email, password=form.cleaned_data["password"])
            if user is None:
                signin_failure_record(email=email, address=address)
                form.add_error(None, "That email and password do not match an account.")
            elif user_has_two_factor(user):
                request.session.cycle_key()
                request.session[PENDING_KEY] = {
                    "user": user.pk,
                    "at": time.time(),
                    "next": next_url,
                }
                return redirect("account:verify")
            else:
                signin_success_record(email=email)
                login(request, user, backend=_BACKEND)
                request.session[REAUTH_KEY] = time.time()
                return redirect(next_url)
    return render(request, "auth/sign_in.html", {"form": form, "next": next_url})


def _pending_user(request) -> tuple[User | None, str]:
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > settings.SIGNIN_SECOND_FACTOR_SECONDS:
        return None, ""
    return User.objects.filter(pk=pending["user"], is_active=True).first(), pending["next"]


def _device_accepting(user: User, code: str):
    """The confirmed device that accepts this code (TOTP first, then a backup code), or None.

    Raises ValidationError while django-otp's per-device backoff after a wrong code is running.
    """
    code = code.strip()
    with transaction.atomic():
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        static = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        device, token = (totp, code) if code.isdigit() else (static, normalize_backup_code(code))
        if device is None:
            return None
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            raise ValidationError(
                "Too many wrong codes in a row. Wait a few seconds and try again."
            )
        return device if device.verify_token(token) else None


def _second_factor(user: User, code: str, address: str):
    """(device, None) when the code is right; (None, reason) otherwise. Counts failures."""
    if lockout := signin_lockout(email=user.email, address=address):
        return None, f"Too many failed attempts. Try again in {lockout.minutes} minutes."
    try:
        device = _device_accepting(user, code)
    except ValidationError as exc:
        return None, exc.messages[0]
    if device is None:
        signin_failure_record(email=user.email, address=address)
        return None, "That code is not valid or was already used."
    signin_success_record(email=user.email)
    return device, None


def verify(request):
    """The second factor: after the password at sign-in, or to re-confirm a signed-in session."""
    if request.user.is_authenticated:
        user, next_url = request.user, safe_next(request, reverse("dashboard:home"))
        if not user_has_two_factor(user):
            return redirect(next_url)
    else:
        user, next_url = _pending_user(request)
        if user is None:
            messages.error(request, "Your sign-in took too long. Please start again.")
            return redirect("account:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, error = _second_factor(user, form.cleaned_data["code"], client_address(request))
        if error:
            form.add_error("code", error)
        else:
            if not request.user.is_authenticated:
                login(request, user, backend=_BACKEND)
                request.session.pop(PENDING_KEY, None)
            otp_login(request, device)
            request.session[REAUTH_KEY] = time.time()
            if isinstance(device, StaticDevice):
                messages.warning(
                    request, f"You used a backup code; {device.token_set.count()} remain."
                )
            return redirect(next_url)
    reconfirm = request.user.is_authenticated and session_is_verified(request.user)
    return render(
        request, "auth/verify.html", {"form": form, "next": next_url, "reconfirm": reconfirm}
    )


@require_POST
def sign_out(request):
    user_id = request.user.pk
    logout(request)
    if user_id is not None:
        sockets_recheck(user_ids=[user_id])  # this session's sockets close
    messages.info(request, "You are signed out.")
    return redirect("account:login")


def recently_authenticated(request) -> bool:
    """Did this session present a password or code within REAUTH_MAX_AGE_SECONDS?"""
    at = request.session.get(REAUTH_KEY)
    return at is not None and time.time() - at <= settings.REAUTH_MAX_AGE_SECONDS


def _reauth_error(user: User, secret: str, address: str) -> str | None:
    """None if `secret` is the user's password or a valid code of theirs; else why not."""
    if lockout := signin_lockout(email=user.email, address=address):
        return f"Too many failed attempts. Try again in {lockout.minutes} minutes."
    if user.check_password(secret):
        return None
    if user_has_two_factor(user):
        try:
            if _device_accepting(user, secret) is not None:
                return None
        except ValidationError as exc:
            return exc.messages[0]
    signin_failure_record(email=user.email, address=address)
    return "That is not right."


@signed_in_view
def reauthenticate(request):
    """Confirm it's you (password, or a code if enrolled) before a sensitive action."""
    next_url = safe_next(request, reverse("dashboard:home"))
    form = ReauthForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        secret, address = form.cleaned_data["secret"], client_address(request)
        error = _reauth_error(request.user, secret, address)
        if error:
            form.add_error("secret", error)
        else:
            request.session[REAUTH_KEY] = time.time()
            return redirect(next_url)
    return render(request, "auth/reauthenticate.html", {"form": form, "next": next_url})
