"""ULIDs: 128-bit ids, time-ordered, written as 26 characters of Crockford base32."""

import base64
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_from_parts(milliseconds: int, entropy: bytes) -> str:
    if not 0 <= milliseconds < 1 << 48:
        raise ValueError("ULID timestamp out of range")
    if len(entropy) != 10:
        raise ValueError("ULID entropy must be 10 bytes")
    value = (milliseconds << 80) | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(milliseconds: int | None = None) -> str:
    if milliseconds is None:
        milliseconds = time.time_ns() // 1_000_000
    return ulid_from_parts(milliseconds, os.urandom(10))


def ulid_milliseconds(ulid: str) -> int:
    value = 0
    for char in ulid[:10].upper():
        value = (value << 5) | _ALPHABET.index(char)
    return value


def is_ulid(value: str) -> bool:
    return (
        len(value) == 26 and all(c in _ALPHABET for c in value.upper()) and value[0] in "01234567"
    )


def seeded_ulids(seed: str, count: int) -> list[str] | None:
    """The ULIDs of a request's events from its `X-Inngest-Event-Id-Seed` (PROTOCOL.md 5).

    The seed is `<unix ms>,<base64 of 10 random bytes>`. Like Inngest's server, the n-th event
    (1-based) gets the entropy with n added to its last 4 bytes (big-endian, wrapping), so an
    SDK retry of the same request yields the same ids. None when the seed is malformed: the
    caller then falls back to random ids, as the Go server does.
    """
    millis_text, _, entropy_text = seed.partition(",")
    if not (millis_text.isascii() and millis_text.isdigit()):
        return None
    try:
        millis = int(millis_text)
        entropy = base64.b64decode(entropy_text, validate=True)
    except ValueError:
        return None
    if not 0 < millis < 1 << 48 or len(entropy) != 10:
        return None
    head, tail = entropy[:6], int.from_bytes(entropy[6:], "big")
    return [
        ulid_from_parts(millis, head + ((tail + n) % (1 << 32)).to_bytes(4, "big"))
        for n in range(1, count + 1)
    ]
