"""Writes for people and their second factors."""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.accounts.models import User, normalize_email

BACKUP_CODE_COUNT = 10


def user_create(*, email: str, password: str, name: str = "") -> User:
    email = normalize_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "An account with this email already exists."})
    user = User(email=email, name=name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


def totp_enrollment_start(*, user: User) -> TOTPDevice:
    """An unconfirmed TOTP device; it protects nothing until confirmed with a code.

    Side effects: replaces any earlier unconfirmed device of the user.
    """
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_enrollment_confirm(*, user: User, device: TOTPDevice, token: str) -> list[str]:
    """Confirm the device with a code from the app and issue fresh backup codes.

    Side effects: one transaction; the device becomes confirmed, other TOTP devices of the user
    are removed, backup codes are replaced. Returns the backup codes (shown once).
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(
            pk=device.pk, user=user, confirmed=False
        )
        if not device.verify_token(token.strip()):
            raise ValidationError(
                {"token": "That code is not valid. Check the time on your device."}
            )
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return backup_codes_regenerate(user=user)


def backup_codes_regenerate(*, user: User) -> list[str]:
    """Ten new single-use backup codes; earlier codes stop working. Returns them (shown once)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name="Backup codes", defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [_backup_code() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
        return codes


def two_factor_disable(*, user: User) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def _backup_code() -> str:
    # 10 characters from a 31-letter alphabet (~50 bits): plenty for a throttled one-time code.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_backup_code(raw: str) -> str:
    code = raw.strip().lower().replace(" ", "")
    if len(code) == 10 and "-" not in code:
        code = f"{code[:5]}-{code[5:]}"
    return code
