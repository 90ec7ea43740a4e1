"""The runs pages' websockets, through the whole ASGI stack: who may listen, and what they get."""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from controlplane.asgi import application
from controlplane.engine.invoke import function_invoke
from controlplane.registry.services import app_register
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step, StepStatus
from controlplane.runs.selectors import run_last_history_id
from tests.conftest import PASSWORD
from tests.otp import code_for_device
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db(transaction=True)
# A page of the server at http://127.0.0.1 (Host is what the browser connected to).
HOST, ORIGIN = (b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")


@pytest.fixture
def fn_a(world):
    app = app_register(
        environment=world.prod_a,
        payload=python_body("shop", [function("shop", "bill")]),
        kind="out_of_band",
    ).app
    return app.functions.get()


@pytest.fixture
def fn_b(world):
    app = app_register(
        environment=world.prod_b,
        payload=python_body("b", [function("b", "x")]),
        kind="out_of_band",
    ).app
    return app.functions.get()


def signed_in_client(user) -> Client:
    """A browser of its own: signing someone else in must not end this session."""
    client = Client()
    response = client.post("/account/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def cookie_of(client) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def run_path(run: Run, org: str = "org-a") -> str:
    """The socket's URL as the run's page has it now."""
    query = f"after={run_last_history_id(run)}&status={run.status}"
    return f"/ws/{org}/production/runs/{run.public_id}/?{query}"


async def received(socket: WebsocketCommunicator) -> str:
    """Every message the socket got for one change (the run page gets up to three)."""
    messages = [await socket.receive_from(timeout=5)]
    while not await socket.receive_nothing(timeout=0.2):
        messages.append(await socket.receive_from())
    return "".join(messages)


async def connect(path: str, *headers) -> tuple[WebsocketCommunicator, bool]:
    if all(name != b"host" for name, _ in headers):
        headers = (HOST, *headers)
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect()
    return communicator, connected


def step_started(run: Run, step_id: str, name: str) -> None:
    with transaction.atomic():
        Step.objects.create(run=run, step_id=step_id, name=name, status=StepStatus.PLANNED)
        history_append(run, HistoryKind.STEP_STARTED, step_id=step_id, step_name=name)


def step_completed(run: Run, step_id: str, output) -> None:
    with transaction.atomic():
        Step.objects.filter(run=run, step_id=step_id).update(
            status=StepStatus.COMPLETED, memo={"data": output}, has_memo=True
        )
        history_append(run, HistoryKind.STEP_COMPLETED, step_id=step_id, attempt=0)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED)
        history_append(run, HistoryKind.COMPLETED)


def element(html: str, element_id: str) -> str:
    """The element with this id, without the out-of-band attribute a push adds."""
    match = re.search(rf'<tr id="{element_id}".*?</tr>', html, re.S)
    assert match, f"no #{element_id} in {html[:500]}"
    return re.sub(r"\s+", " ", match.group(0).replace(' hx-swap-oob="true"', ""))


def test_a_run_page_gets_new_steps_then_their_changes_as_the_page_renders_them(world, fn_a):
    run = function_invoke(function=fn_a, data={})
    viewer = signed_in_client(world.viewer)
    cookie, path = cookie_of(viewer), run_path(run)

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        await database_sync_to_async(step_started)(run, "s1", "charge")
        pushed = await received(socket)
        assert 'id="run-header" hx-swap-oob="true"' in pushed
        assert '<tbody hx-swap-oob="beforeend:#steps-body"><tr id="step-s1"' in pushed
        assert 'id="run-actions"' not in pushed  # still queued: the buttons stay as they are

        await database_sync_to_async(step_completed)(run, "s1", {"charged": 42})
        pushed = await received(socket)
        assert pushed.count('id="run-header"') == 1  # one push for the whole transaction
        assert '<tr id="step-s1" class="step" hx-swap-oob="true">' in pushed
        assert "&quot;charged&quot;: 42" in pushed and "Completed" in pushed
        assert 'hx-get="/org-a/production/runs/' in pushed  # status changed: re-fetch buttons
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()
        return pushed

    pushed = async_to_sync(scenario)()
    page = viewer.get(f"/org-a/production/runs/{run.public_id}/").content.decode()
    assert element(page, "step-s1") == element(pushed, "step-s1")  # a reload shows the same


def test_a_socket_catches_up_on_what_changed_since_its_page_rendered(world, fn_a):
    run = function_invoke(function=fn_a, data={})
    path = run_path(run)
    step_started(run, "s1", "charge")  # after the page rendered, before the socket joined
    cookie = cookie_of(signed_in_client(world.member))

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        pushed = await received(socket)
        # The whole table, replacing the page's: a reconnect (same cursor) adds nothing twice.
        assert '<tbody id="steps-body" hx-swap-oob="true"><tr id="step-s1"' in pushed
        await socket.disconnect()
        again, _ = await connect(path, ORIGIN, cookie)
        assert await received(again) == pushed
        await again.disconnect()

    async_to_sync(scenario)()


def test_nothing_is_sent_for_a_rolled_back_transaction(world, fn_a):
    run = function_invoke(function=fn_a, data={})
    cookie, path = cookie_of(signed_in_client(world.viewer)), run_path(run)

    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            history_append(run, HistoryKind.STARTED)
            raise RuntimeError

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        await database_sync_to_async(rolled_back)()
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_org_a_fragments_never_reach_org_b(world, fn_a, fn_b):
    run_a = function_invoke(function=fn_a, data={})
    run_b = function_invoke(function=fn_b, data={})
    cookie_a = cookie_of(signed_in_client(world.owner))
    cookie_b = cookie_of(signed_in_client(world.outsider))
    path_a, path_b = run_path(run_a), run_path(run_b, "org-b")

    async def scenario():
        socket_a, _ = await connect(path_a, ORIGIN, cookie_a)
        socket_b, ok = await connect(path_b, ORIGIN, cookie_b)
        list_b, ok_list = await connect("/ws/org-b/production/runs/", ORIGIN, cookie_b)
        assert ok and ok_list
        await database_sync_to_async(step_started)(run_a, "s1", "secret-step-of-a")
        assert "secret-step-of-a" in await received(socket_a)
        assert await socket_b.receive_nothing(timeout=0.5)
        assert await list_b.receive_nothing(timeout=0.1)
        for socket in (socket_a, socket_b, list_b):
            await socket.disconnect()

    async_to_sync(scenario)()


def test_it_refuses_outsiders_signed_out_unverified_and_foreign_origins(world, fn_a):
    run = function_invoke(function=fn_a, data={})
    path = run_path(run)
    outsider = cookie_of(signed_in_client(world.outsider))
    # Signed in before enrolling a device elsewhere: this session has not presented it.
    unverified = cookie_of(signed_in_client(world.viewer))
    device = TOTPDevice.objects.create(user=world.viewer, name="phone", confirmed=True)
    verified_client = Client()
    verified_client.post("/account/login/", {"email": world.viewer.email, "password": PASSWORD})
    response = verified_client.post("/account/login/verify/", {"code": code_for_device(device)})
    assert response.status_code == 302
    verified = cookie_of(verified_client)
    outsider_via_b = f"/ws/org-b/production/runs/{run.public_id}/"

    async def refused(path, *headers) -> bool:
        socket, connected = await connect(path, *headers)
        await socket.disconnect()
        return not connected

    async def scenario():
        assert await refused(path, ORIGIN, outsider)
        assert await refused(outsider_via_b, ORIGIN, outsider)  # not run of their environment
        assert await refused("/ws/org-a/production/runs/", ORIGIN, outsider)
        assert await refused(path, ORIGIN)  # signed out
        assert await refused(path, ORIGIN, unverified)
        assert await refused(path, (b"origin", b"http://evil.test"), verified)
        assert await refused(path.replace(run.public_id, "not-a-ulid"), ORIGIN, verified)
        assert not await refused(path, ORIGIN, verified)

    async_to_sync(scenario)()


def test_the_list_prepends_matching_new_runs_and_replaces_changed_rows(world, fn_a):
    old = function_invoke(function=fn_a, data={})
    cookie = cookie_of(signed_in_client(world.viewer))
    failed_only = f"/ws/org-a/production/runs/?status=failed&top={old.public_id}"

    def fail(run):
        with transaction.atomic():
            Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
            history_append(run, HistoryKind.FAILED)

    async def scenario():
        everything, _ = await connect(
            f"/ws/org-a/production/runs/?top={old.public_id}", ORIGIN, cookie
        )
        failures, _ = await connect(failed_only, ORIGIN, cookie)
        paged, connected = await connect(f"{failed_only}&after={old.public_id}", ORIGIN, cookie)
        assert not connected  # only the first page is live

        new = await database_sync_to_async(function_invoke)(function=fn_a, data={})
        pushed = await everything.receive_from(timeout=5)
        assert pushed.startswith('<tbody hx-swap-oob="afterbegin:#runs-body">')
        assert f'<tr id="run-{new.public_id}"' in pushed and "Queued" in pushed
        assert await failures.receive_nothing(timeout=0.3)  # not failed: not on that list

        await database_sync_to_async(fail)(old)
        pushed = await everything.receive_from(timeout=5)
        assert f'<tr id="run-{old.public_id}" hx-swap-oob="true">' in pushed and "Failed" in pushed
        assert f'<tr id="run-{old.public_id}" hx-swap-oob="true">' in await failures.receive_from(
            timeout=5
        )
        for socket in (everything, failures):
            await socket.disconnect()

    async_to_sync(scenario)()


def test_a_rolled_back_savepoint_does_not_take_the_outer_rows_push_with_it(world, fn_a):
    run = function_invoke(function=fn_a, data={})
    cookie, path = cookie_of(signed_in_client(world.viewer)), run_path(run)

    def savepoint_rolled_back_then_a_step():
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                history_append(run, HistoryKind.DISCARDED)  # registers the run's push...
                raise RuntimeError  # ...which this rollback drops
            history_append(run, HistoryKind.STARTED)
            Step.objects.create(run=run, step_id="s1", name="kept", status=StepStatus.PLANNED)
            history_append(run, HistoryKind.STEP_STARTED, step_id="s1", step_name="kept")

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        await database_sync_to_async(savepoint_rolled_back_then_a_step)()
        pushed = await received(socket)
        assert pushed.count('id="run-header"') == 1 and '<tr id="step-s1"' in pushed
        await socket.disconnect()

    async_to_sync(scenario)()


def test_the_function_page_is_told_to_refetch_its_flow_panel_at_most_once_a_second(
    world, fn_a, fn_b
):
    other = app_register(
        environment=world.prod_a,
        payload=python_body("mail", [function("mail", "send")]),
        kind="out_of_band",
    ).app.functions.get()
    cookie = cookie_of(signed_in_client(world.viewer))
    path = f"/ws/org-a/production/functions/{fn_a.public_id}/"
    flow_url = f"/org-a/production/functions/{fn_a.public_id}/flow/"

    async def scenario():
        outsider = cookie_of(await database_sync_to_async(signed_in_client)(world.outsider))
        refused, connected = await connect(path, ORIGIN, outsider)
        assert not connected
        foreign, connected = await connect(
            f"/ws/org-a/production/functions/{fn_b.public_id}/", ORIGIN, cookie
        )
        assert not connected  # org B's function through org A's URL
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected

        await database_sync_to_async(function_invoke)(function=other, data={})
        assert await socket.receive_nothing(timeout=0.5)  # another function's run

        await database_sync_to_async(function_invoke)(function=fn_a, data={})
        nudge = await socket.receive_from(timeout=5)
        assert 'id="flow-nudge" hx-swap-oob="true"' in nudge and f'hx-get="{flow_url}"' in nudge
        for _ in range(3):  # a burst: one more re-fetch, a second after the first
            await database_sync_to_async(function_invoke)(function=fn_a, data={})
        assert await socket.receive_nothing(timeout=0.5)
        assert 'id="flow-nudge"' in await socket.receive_from(timeout=3)
        assert await socket.receive_nothing(timeout=1.5)
        await socket.disconnect()

    async_to_sync(scenario)()


# --- Open sockets check again ---------------------------------------------------------------


async def closed_with(socket: WebsocketCommunicator, timeout: float = 5) -> int:
    """The code the socket is closed with next (nothing else may come before it)."""
    message = await socket.receive_output(timeout)
    assert message["type"] == "websocket.close", message
    return message["code"]


def test_a_member_removed_after_connecting_has_their_sockets_closed_at_once(world, fn_a, fn_b):
    from controlplane.tenancy.models import Membership
    from controlplane.tenancy.services import membership_remove

    Membership.objects.create(organization=world.org_b, user=world.member, role="viewer")
    path = run_path(function_invoke(function=fn_a, data={}))
    cookie = cookie_of(signed_in_client(world.member))
    in_a = world.org_a.memberships.get(user=world.member)
    owner_of_a = world.org_a.memberships.get(user=world.owner)

    async def scenario():
        on_run, _ = await connect(path, ORIGIN, cookie)
        on_list, _ = await connect("/ws/org-a/production/runs/", ORIGIN, cookie)
        on_b, connected = await connect("/ws/org-b/production/runs/", ORIGIN, cookie)
        assert connected
        await database_sync_to_async(membership_remove)(
            membership=in_a, actor_membership=owner_of_a
        )
        assert await closed_with(on_run) == 4403
        assert await closed_with(on_list) == 4403
        assert await on_b.receive_nothing(timeout=0.5)  # still a member of org B
        await on_b.disconnect()
        again, connected = await connect(path, ORIGIN, cookie)
        assert not connected

    async_to_sync(scenario)()


def test_requiring_two_factor_closes_the_sockets_of_members_without_it(world, fn_a):
    from controlplane.tenancy.services import organization_update

    path = run_path(function_invoke(function=fn_a, data={}))
    member = cookie_of(signed_in_client(world.member))
    device = TOTPDevice.objects.create(user=world.owner, name="phone", confirmed=True)
    owner = Client()
    owner.post("/account/login/", {"email": world.owner.email, "password": PASSWORD})
    assert owner.post("/account/login/verify/", {"code": code_for_device(device)}).status_code
    owner_cookie = cookie_of(owner)

    async def scenario():
        members, _ = await connect(path, ORIGIN, member)
        owners, connected = await connect(path, ORIGIN, owner_cookie)
        assert connected
        await database_sync_to_async(organization_update)(
            organization=world.org_a, actor=world.owner, name="Org A", require_two_factor=True
        )
        assert await closed_with(members) == 4403
        assert await owners.receive_nothing(timeout=0.5)
        await owners.disconnect()

    async_to_sync(scenario)()


def test_signing_out_closes_that_sessions_sockets_and_a_new_password_every_other(world, fn_a):
    path = run_path(function_invoke(function=fn_a, data={}))
    here, there, elsewhere = (signed_in_client(world.viewer) for _ in range(3))
    new_password = "a new horse battery"

    def change_password():
        form = {"old_password": PASSWORD, "new_password1": new_password}
        return here.post("/account/password/", {**form, "new_password2": new_password})

    async def scenario():
        sockets = [(await connect(path, ORIGIN, cookie_of(c)))[0] for c in (here, there, elsewhere)]
        await database_sync_to_async(there.post)("/account/logout/")
        assert await closed_with(sockets[1]) == 4403
        assert await sockets[2].receive_nothing(timeout=0.3)
        assert (await database_sync_to_async(change_password)()).status_code == 302
        assert await closed_with(sockets[2]) == 4403
        # The session that changed it goes on under a new key: its pages connect again.
        again, connected = await connect(path, ORIGIN, cookie_of(here))
        assert connected
        await again.disconnect()

    async_to_sync(scenario)()


def test_a_removal_nobody_announced_closes_the_socket_at_the_next_periodic_check(
    world, fn_a, settings
):
    settings.WEBSOCKET_RECHECK_SECONDS = 0.3
    path = run_path(function_invoke(function=fn_a, data={}))
    cookie = cookie_of(signed_in_client(world.member))

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        assert await socket.receive_nothing(timeout=0.6)  # checked, still a member
        await database_sync_to_async(world.org_a.memberships.filter(user=world.member).delete)()
        assert await closed_with(socket, timeout=3) == 4403

    async_to_sync(scenario)()
