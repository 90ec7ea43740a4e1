"""Secrets in log lines are cut to their prefix: event keys in `/e/<key>` paths (the server's
access log, Django's request warnings), bearer tokens, signing keys, API keys."""

import logging
import secrets
from io import StringIO

import httpx
import pytest
from django.test import Client
from uvicorn.logging import AccessFormatter

from controlplane.keys.models import ApiAccess
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.services import api_key_create, event_key_create
from controlplane.keys.signatures import bearer_hash
from tests.engine.harness import ServerProcess


def test_django_request_warnings_name_an_event_key_by_its_prefix(db, caplog):
    key = secrets.token_hex(32)
    response = Client().post(f"/e/{key}", {"name": "a/b"}, content_type="application/json")
    assert response.status_code == 401
    [warning] = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert warning == f"Unauthorized: /e/{key[:8]}..."


def test_an_access_log_line_keeps_its_shape_without_the_key():
    key = secrets.token_hex(32)
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s'))
    access = logging.getLogger("uvicorn.access")  # as uvicorn logs each request
    level = access.level  # a live server of the session may have quietened it
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", f"/e/{key}", "1.1", 200)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert stream.getvalue() == f'127.0.0.1:5000 "POST /e/{key[:8]}... HTTP/1.1" 200 OK\n'


def test_a_url_object_is_redacted_as_its_text(caplog):
    key = secrets.token_hex(32)
    url = httpx.URL(f"http://127.0.0.1:8288/e/{key}")
    logging.getLogger("httpx").warning("HTTP Request: %s %s %d", "POST", url, 200)
    assert caplog.records[-1].getMessage() == (
        f"HTTP Request: POST http://127.0.0.1:8288/e/{key[:8]}... 200"
    )


@pytest.mark.django_db(transaction=True)
def test_the_servers_output_holds_no_key_of_the_requests_it_served(world, tmp_path):
    _key, event_key = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    _key, api_key = api_key_create(
        environment=world.prod_a, actor=world.owner, name="ci", access=ApiAccess.READ
    )
    signing_key = active_signing_key(world.prod_a)
    unknown = secrets.token_hex(32)
    output = tmp_path / "server.log"
    server = ServerProcess({"LOG_LEVEL": "INFO"}, output=output).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post(f"/e/{event_key}", json={"name": "a/b"}).status_code == 200
            assert http.post(f"/e/{event_key}", content=b"{").status_code == 400
            assert http.post(f"/e/{unknown}?x=1", json={"name": "a/b"}).status_code == 401
            for token, status in ((api_key, 200), (api_key + "x", 401), (signing_key, 200)):
                auth = {"Authorization": f"Bearer {token}"}
                assert http.get("/v1/events", headers=auth).status_code == status
            auth = {"Authorization": f"Bearer {bearer_hash(signing_key)}"}
            assert http.get("/v1/events", headers=auth).status_code == 200
            http.post("/fn/register", json={}, headers=auth)
    finally:
        server.stop()
    printed = output.read_text()
    assert f'"POST /e/{event_key[:8]}... HTTP/1.1" 200' in printed  # the access log, redacted
    assert f"/e/{unknown[:8]}...?x=1" in printed
    for secret in (event_key, unknown, api_key, signing_key, bearer_hash(signing_key)):
        assert secret not in printed
        assert secret[len(secret) // 2 :] not in printed  # nor its tail, whatever the prefix
