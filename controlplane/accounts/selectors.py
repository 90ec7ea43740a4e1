"""Reads about people and their second factors."""

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
