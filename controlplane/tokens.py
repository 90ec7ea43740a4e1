"""Random bearer secrets and the hash they are stored under.

High-entropy tokens need no salt or slow hash (ASVS 5.0 V6.5.2): SHA-256 lets us look a
presented token up by its hash directly.
"""

import hashlib
import secrets


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
