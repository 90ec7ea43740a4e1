"""ULIDs: 128-bit ids, time-ordered, written as 26 characters of Crockford base32."""

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
