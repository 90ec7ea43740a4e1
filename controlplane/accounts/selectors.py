"""Reads about people and their second factors."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.accounts.models import User


def user_has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def session_is_verified(user: User) -> bool:
    """True unless the user enrolled a second factor and this session has not presented it."""
    return user.is_verified() or not user_has_two_factor(user)


def backup_codes_remaining(user: User) -> int:
    device = StaticDevice.objects.filter(user=user).first()
    return device.token_set.count() if device else 0


def confirmed_devices(user: User) -> list:
    return [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *StaticDevice.objects.filter(user=user),
    ]


def session_is_verified_for(user: User, session) -> bool:
    """`session_is_verified` where OTPMiddleware does not run (a websocket's scope): the device
    the session says it verified must exist, be confirmed and belong to this user."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    verified = device is not None and device.user_id == user.pk and device.confirmed
    return verified or not user_has_two_factor(user)
