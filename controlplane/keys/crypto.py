"""Encryption at rest for secrets the server must read back (signing keys).

ENCRYPTION_KEY holds one or more Fernet keys, comma-separated: the first encrypts, all decrypt,
so the key can be rotated by prepending a new one (then re-encrypting, see
`signing_keys_reencrypt`).
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(configured: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEY is not set: it encrypts signing keys at rest (`make run` generates "
            "var/encryption_key; in production pass ENCRYPTION_KEY or ENCRYPTION_KEY_FILE)."
        )
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEY must be urlsafe-base64-encoded 32-byte keys."
        ) from None


def encrypt(plaintext: str) -> str:
    return _fernet(settings.ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A signing key cannot be decrypted: ENCRYPTION_KEY lacks the key it was encrypted with."
        ) from None


def reencrypt(token: str) -> str:
    return _fernet(settings.ENCRYPTION_KEY).rotate(token.encode()).decode()
