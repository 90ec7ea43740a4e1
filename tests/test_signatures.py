"""Signing and bearer tokens, against the test vectors in PROTOCOL.md 3.2 and 3.5."""

import jcs
from hypothesis import given
from hypothesis import strategies as st

from controlplane.keys.signatures import (
    bearer_candidates,
    bearer_hash,
    canonical_json,
    sign_request,
    sign_response,
    strip_prefix,
    verify_request,
    verify_response,
)

KEY = "signkey-test-" + "ab" * 32
T = 1700000000


def test_it_signs_the_canonical_json_body_with_the_hex_text_key():
    header = sign_request(b'{"b": 2, "a": 1}', KEY, timestamp=T)
    assert header == f"t={T}&s=6eae9da1c8cd72155e1936837d3706ceb9753c00bd2bca7a70ab127ffe2598f3"
    # Formatting does not matter: the signature covers the JCS form.
    assert sign_request({"a": 1, "b": 2}, KEY, timestamp=T) == header
    assert sign_request(b'{\n  "a": 1,\n  "b": 2\n}', KEY, timestamp=T) == header


def test_it_signs_an_empty_body():
    expected = "12d9b6b90ade26843e2c7833b54f99400f02ebd968327a455399d9976b80e308"
    assert sign_request(b"", KEY, timestamp=T) == f"t={T}&s={expected}"


def test_it_computes_the_sdk_bearer_hash():
    expected = "9a2db2e23f1504cd056606553ac049c5e718e8f9ce9233876df1a7a1821af885"
    assert bearer_hash(KEY) == expected
    assert expected in bearer_candidates(expected)  # Python SDK form
    assert expected in bearer_candidates("signkey-test-" + expected)  # TS SDK form
    assert expected in bearer_candidates(KEY)  # the plaintext key
    assert strip_prefix("signkey-branch-abc") == "abc"
    assert bearer_candidates("undefined") == {"undefined"}


def test_it_verifies_requests_within_five_minutes_either_way():
    body = {"a": 1}
    assert verify_request(sign_request(body, KEY, timestamp=T), body, [KEY], now=T + 299)
    assert verify_request(sign_request(body, KEY, timestamp=T), body, [KEY], now=T - 299)
    assert not verify_request(sign_request(body, KEY, timestamp=T), body, [KEY], now=T + 301)
    assert not verify_request(sign_request(body, KEY, timestamp=T), body, [KEY], now=T - 301)


def test_it_rejects_tampering_wrong_keys_and_malformed_headers():
    body = {"a": 1}
    header = sign_request(body, KEY, timestamp=T)
    other = "signkey-test-" + "cd" * 32
    assert not verify_request(header, {"a": 2}, [KEY], now=T)
    assert not verify_request(header, body, [other], now=T)
    assert verify_request(header, body, [other, KEY], now=T)  # fallback key accepted
    for bad in (None, "", "s=abc", f"t={T}", "t=x&s=y", "garbage"):
        assert not verify_request(bad, body, [KEY], now=T)
    assert not verify_request(header, b"{not json", [KEY], now=T)


def test_it_verifies_responses_over_the_exact_bytes():
    raw = b'{"b": 2,   "a": 1}'
    header = sign_response(raw, KEY, timestamp=T)
    assert verify_response(header, raw, [KEY], now=T)
    assert not verify_response(header, b'{"a":1,"b":2}', [KEY], now=T)


# JSON values as json.loads returns them (no floats: they are checked apart), with any text:
# control characters, quotes, non-ASCII, characters beyond the BMP, in values and in keys.
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(_json_values)
def test_it_writes_the_same_bytes_as_jcs(value):
    assert canonical_json(value) == jcs.canonicalize(value)


def test_it_formats_floats_and_orders_keys_the_jcs_way():
    value = {"a": [1e-7, 100.0, 0.1, 1e21, -0.0, 2**60], "\U0001f600": 1, "\uffe0": 2}
    assert canonical_json(value) == jcs.canonicalize(value)
    assert canonical_json([1e-7, 100.0]) == b"[1e-7,100]"
    assert canonical_json({"\U0001f600": 1, "\uffe0": 2}).startswith('{"\U0001f600"'.encode())
