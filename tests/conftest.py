"""The shared tenant world: org A (owner, admin, member, viewer) and org B (its outsider owner)."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache

from controlplane.accounts.models import User
from controlplane.tenancy.models import Environment, Membership, Organization, Role
from controlplane.tenancy.services import organization_create

PASSWORD = "correct horse battery staple"
# Module-scoped real SDK apps for sync tests (`apps`, `silent_port`).
pytest_plugins = ["tests.sync_fixtures"]


@dataclass
class World:
    org_a: Organization
    prod_a: Environment
    dev_a: Environment
    owner: User
    admin: User
    member: User
    viewer: User
    org_b: Organization
    prod_b: Environment
    outsider: User

    def user(self, role: str) -> User:
        return {
            "owner": self.owner,
            "admin": self.admin,
            "member": self.member,
            "viewer": self.viewer,
            "outsider": self.outsider,
        }[role]


def make_user(email: str) -> User:
    return User.objects.create_user(email=email, password=PASSWORD)


# The slow tiers, told by what a test starts (or its folder); `make test-fast` runs everything
# else.
SDK_APP_FIXTURES = {"apps", "app_env"}  # tests/sync_fixtures.py, tests/engine/conftest.py
SDK_MODULES = ("test_sdk_", "test_sync_")  # the SDKs themselves: Python apps, Node.js senders
CHAOS_FIXTURES = {"redis_server"}  # services a test kills and restarts


def pytest_collection_modifyitems(items):
    for item in items:
        parts = item.path.relative_to(Path(__file__).parent).parts
        fixtures = set(item.fixturenames)
        params = item.callspec.params.values() if hasattr(item, "callspec") else ()
        if parts[0] == "browser":
            item.add_marker(pytest.mark.browser)
        if parts[0] == "chaos":
            item.add_marker(pytest.mark.chaos)
        if parts[0] == "engine" or parts[-1].startswith(SDK_MODULES) or fixtures & SDK_APP_FIXTURES:
            item.add_marker(pytest.mark.sdk)
        if "celery" in params or "celery_worker" in fixtures:
            item.add_marker(pytest.mark.celery)
        if fixtures & CHAOS_FIXTURES:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def redis_server():
    """A private Redis the test may kill and restart."""
    from tests.engine.harness import RedisServer

    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def world(db) -> World:
    owner, outsider = make_user("owner@a.test"), make_user("outsider@b.test")
    org_a = organization_create(name="Org A", owner=owner)
    org_b = organization_create(name="Org B", owner=outsider)
    users = {}
    for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        users[role] = make_user(f"{role}@a.test")
        Membership.objects.create(organization=org_a, user=users[role], role=role)
    return World(
        org_a=org_a,
        prod_a=org_a.environments.get(slug="production"),
        dev_a=org_a.environments.get(slug="development"),
        owner=owner,
        admin=users[Role.ADMIN],
        member=users[Role.MEMBER],
        viewer=users[Role.VIEWER],
        org_b=org_b,
        prod_b=org_b.environments.get(slug="production"),
        outsider=outsider,
    )


@pytest.fixture
def signed_in(client):
    """Sign a user in through the real sign-in form (password only: no device enrolled)."""

    def sign_in(user: User):
        client.logout()
        response = client.post("/account/login/", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content
        return client

    return sign_in


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """The whole ASGI stack (HTTP + websockets) on a loopback port, sharing the test database.

    Tests that use it need `transactional_db`, so what they write is committed and visible to
    the server's threads.
    """
    from tests.live import LiveServer

    server = LiveServer().start()
    yield server.url
    server.stop()
    with django_db_blocker.unblock():
        _close_server_thread_connections()


def _close_server_thread_connections():
    """Threads of the stopped server may still hold PostgreSQL sessions, which would keep the
    test database from being dropped at the end of the run."""
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) {others}")
        for _ in range(50):  # termination is asynchronous
            cursor.execute(f"SELECT count(*) {others}")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.1)
    connection.close()


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, dropping the connections it pooled
    for the last one (Celery's own reset after a fork)."""
    from controlplane.celery import app

    app.conf.broker_url = url
    app._after_fork()


@pytest.fixture
def refusing_broker(settings):
    """The Celery backend with a broker that refuses every connection (nothing listens at its
    address), for the server in this process (`client`, `live_server_url`)."""
    from controlplane.celery import app
    from controlplane.engine.backends import backend
    from tests.live import free_port

    settings.EXECUTOR_BACKEND = "celery"
    backend.cache_clear()
    saved = app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    yield
    use_broker(saved)
    backend.cache_clear()
