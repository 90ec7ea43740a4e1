"""Signing and bearer tokens, against the test vectors in PROTOCOL.md 3.2 and 3.5."""

from controlplane.keys.signatures import (
    bearer_candidates,
    bearer_hash,
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
