"""Inngest request signing and SDK bearer tokens (PROTOCOL.md 3.2-3.5). Pure functions.

- The HMAC key is the signing key's hex *text* after the `signkey-<env>-` prefix.
- Requests are signed over the JCS-canonical JSON body followed by the unix-seconds timestamp;
  responses over their exact bytes followed by the timestamp.
- SDK -> server bearer tokens are sha256 of the hex-*decoded* key (TS keeps the prefix).
"""

import contextlib
import hashlib
import hmac
import json
import re
import time

import jcs

PREFIX = re.compile(r"^signkey-\w+-")
# How far a signature's timestamp may be from now, either way (the TS SDK's window).
MAX_SKEW_SECONDS = 300


def strip_prefix(key: str) -> str:
    return PREFIX.sub("", key, count=1)


def canonical_body(body: bytes | str | object) -> bytes:
    """The bytes a request signature covers: JCS of the parsed JSON, or nothing for no body."""
    if isinstance(body, bytes | str):
        if not body:
            return b""
        body = json.loads(body)
    return canonical_json(body)


def canonical_json(value) -> bytes:
    """JCS (RFC 8785) of a JSON value. Python's C encoder writes the same bytes as JCS unless a
    number needs ECMAScript's format (floats, integers beyond 2**53) or a key's UTF-16 order
    differs from its code point order; only those go through the (pure Python, much slower)
    `jcs` encoder."""
    if _c_encodable(value):
        try:
            return json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        except UnicodeEncodeError:  # a lone surrogate: let jcs decide
            pass
    return jcs.canonicalize(value)


_EXACT_INTS = 2**53  # integers a double holds exactly


def _c_encodable(value) -> bool:
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if any(not key.isascii() and max(key) > "\uffff" for key in value):
                return False
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, float) or (isinstance(value, int) and abs(value) > _EXACT_INTS):
            return False  # JCS writes numbers as doubles
    return True


def _mac(key: str, message: bytes, timestamp: int) -> str:
    raw_key = strip_prefix(key).encode("ascii")
    return hmac.new(raw_key, message + str(timestamp).encode(), hashlib.sha256).hexdigest()


def sign_request(body, key: str, *, timestamp: int | None = None) -> str:
    """The X-Inngest-Signature header value for a server -> app request with this body."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp}&s={_mac(key, canonical_body(body), timestamp)}"


def sign_canonical_request(payload: bytes, key: str, *, timestamp: int | None = None) -> str:
    """`sign_request` for a body already in JCS form (the bytes sent): not canonicalized again."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp}&s={_mac(key, payload, timestamp)}"


def sign_response(body: bytes, key: str, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp}&s={_mac(key, body, timestamp)}"


def parse_signature(header: str) -> tuple[int, str] | None:
    fields = dict(part.split("=", 1) for part in header.split("&") if "=" in part)
    try:
        return int(fields["t"]), fields["s"]
    except (KeyError, ValueError):
        return None


def verify_response(
    header: str | None, body: bytes, keys: list[str], *, now: float | None = None
) -> bool:
    """True if the app signed these exact response bytes with one of `keys`, recently."""
    return _verify(header, body, keys, now)


def verify_request(header: str | None, body, keys: list[str], *, now: float | None = None) -> bool:
    """True if a request body (parsed or raw JSON) was signed with one of `keys`, recently."""
    try:
        message = canonical_body(body)
    except ValueError:
        return False
    return _verify(header, message, keys, now)


def _verify(header: str | None, message: bytes, keys: list[str], now: float | None) -> bool:
    parsed = parse_signature(header or "")
    if parsed is None:
        return False
    timestamp, signature = parsed
    now = time.time() if now is None else now
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        return False
    return any(hmac.compare_digest(_mac(key, message, timestamp), signature) for key in keys)


def bearer_hash(key: str) -> str:
    """What an SDK sends as `Authorization: Bearer ...` for this signing key (Python form)."""
    return hashlib.sha256(bytes.fromhex(strip_prefix(key))).hexdigest()


def bearer_candidates(token: str) -> set[str]:
    """Bearer hashes a presented token may stand for: the hash itself (with or without the
    TS prefix), or a plaintext signing key, which the Go server accepts too."""
    stripped = strip_prefix(token.strip())
    candidates = {stripped.lower()}
    with contextlib.suppress(ValueError):  # not hex: cannot be a plaintext key
        candidates.add(hashlib.sha256(bytes.fromhex(stripped)).hexdigest())
    return candidates
