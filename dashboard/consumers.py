"""Websockets of the runs pages: they push the pages' own partials as htmx out-of-band swaps.

Who may listen is checked as for the pages (`environment_view`): a signed-in person whose
session passed their second factor, a member of the organization in the URL, the environment
(and run) looked up through it. Anyone else's socket is closed before it is accepted. Group
names come from primary keys found that way, never from the client.

An open socket checks again, on the session and memberships as they are then, when a change
of what its person may see is announced to their group (`sockets_recheck`) and every
WEBSOCKET_RECHECK_SECONDS in case an announcement was lost; one that may no longer see its
page is closed.
"""

import asyncio
import logging
from collections import OrderedDict
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user
from django.http import QueryDict

from controlplane.accounts.selectors import session_is_verified_for, user_has_two_factor
from controlplane.ids import is_ulid
from controlplane.live import serving_on, user_group
from controlplane.registry.selectors import function_in_environment
from controlplane.runs import live
from controlplane.runs.selectors import (
    run_for_page,
    run_last_history_id,
    run_matching,
    run_steps_changed,
    run_timeline,
)
from controlplane.tenancy.selectors import environment_in_organization, membership_for
from dashboard.forms import RunFilterForm
from dashboard.live import (
    flow_panel_nudge_html,
    run_actions_nudge_html,
    run_catch_up_html,
    run_push_html,
    run_row_html,
)

logger = logging.getLogger(__name__)


class Renders:
    """Fragments rendered once per process and shared by every socket that needs them: 100
    sockets on one run cost one render per change, even when they all ask at once."""

    def __init__(self, size: int = 1024):
        self._done: OrderedDict = OrderedDict()
        self._pending: dict[tuple, asyncio.Future] = {}
        self._size = size

    async def get(self, key: tuple, render):
        if key in self._done:
            return self._done[key]
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        future = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            value = await database_sync_to_async(render)()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            future.set_result(value)
            self._done[key] = value
            while len(self._done) > self._size:
                self._done.popitem(last=False)
            return value
        finally:
            del self._pending[key]


RENDERS = Renders()


# Close codes: the htmx ws extension reconnects after 1011 (through the full check), not after
# ours (reloading the page shows why).
ACCESS_ENDED, RECHECK_FAILED = 4403, 1011


def environment_for(scope):
    """The environment of the socket's URL if this person may see it, else None."""
    user, session = scope["user"], scope["session"]
    if not user.is_authenticated or not session_is_verified_for(user, session):
        return None
    kwargs = scope["url_route"]["kwargs"]
    membership = membership_for(user=user, organization_slug=kwargs["org_slug"])
    if membership is None:
        return None
    if membership.organization.require_two_factor and not user_has_two_factor(user):
        return None
    return environment_in_organization(
        organization=membership.organization, slug=kwargs["env_slug"]
    )


def scope_as_now(scope) -> dict:
    """The scope with its session read again from the store and its user with it (anonymous
    once the session ended, or its password changed)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = store(scope["session"].session_key)
    return {**scope, "session": session, "user": get_user(SimpleNamespace(session=session))}


class _PageConsumer(AsyncWebsocketConsumer):
    groups_joined: tuple[str, ...] = ()
    environment_id: int | None = None
    rechecks: asyncio.Task | None = None

    async def connect(self):
        serving_on(asyncio.get_running_loop())
        self.query = QueryDict(self.scope["query_string"].decode())
        group = await database_sync_to_async(self._resolve)()
        if not group:
            # Logged, like the origin check's refusals (dashboard/origins.py).
            logger.info("websocket refused: %s", self.scope["path"])
            await self.close()
            return
        self.groups_joined = (group, user_group(self.scope["user"].pk))
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()
        self.rechecks = asyncio.create_task(self._recheck_every(settings.WEBSOCKET_RECHECK_SECONDS))
        await self.caught_up()

    async def disconnect(self, code):
        if self.rechecks is not None:
            self.rechecks.cancel()
        for name in self.groups_joined:
            await self.channel_layer.group_discard(name, self.channel_name)

    def _resolve(self) -> str:
        environment = environment_for(self.scope)
        if environment is None:
            return ""
        self.environment_id = environment.pk
        return self.resolve(environment)

    async def access_changed(self, message):
        """Someone changed what this socket's person may see (`sockets_recheck`)."""
        await self.recheck()

    async def _recheck_every(self, seconds: float) -> None:
        """The safety net for announcements that never arrived (a channel layer is
        best-effort) and for what nobody announces (a session that expired)."""
        while True:
            await asyncio.sleep(seconds)
            if await self.recheck():
                return

    async def recheck(self) -> bool:
        """Close the socket unless its person may still see the page; True if closed."""
        try:
            allowed = await database_sync_to_async(self._still_allowed)()
        except Exception:
            logger.exception("websocket access not rechecked: %s", self.scope["path"])
            await self.close(code=RECHECK_FAILED)
            return True
        if not allowed:
            logger.info("websocket closed, access ended: %s", self.scope["path"])
            await self.close(code=ACCESS_ENDED)
        return not allowed

    def _still_allowed(self) -> bool:
        environment = environment_for(scope_as_now(self.scope))
        return environment is not None and environment.pk == self.environment_id

    async def receive(self, text_data=None, bytes_data=None):
        """Pages only listen; what a client sends is ignored."""

    def resolve(self, environment) -> str:
        """Look up what the socket watches in the environment its person may see; its group
        name, or "" to refuse it."""
        raise NotImplementedError

    async def caught_up(self) -> None:
        """Send what changed between the page's render and the socket joining its group."""

    async def shared(self, key: tuple, render):
        """`render()` (run in a thread, for the ORM) through the process-wide cache."""
        try:
            return await RENDERS.get(key, render)
        except Exception:
            logger.exception("live fragment %s not rendered", key)
            return None


class RunConsumer(_PageConsumer):
    """`ws/<org>/<env>/runs/<run_id>/?after=<last timeline row the page shows>&status=<its
    status>`: the run's header and changed steps."""

    def resolve(self, environment) -> str:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = is_ulid(run_id) and run_for_page(environment=environment, public_id=run_id)
        if not run:
            return ""
        self.run, self.status = run, self.query.get("status", "")
        after = self.query.get("after", "")
        self.cursor = int(after) if after.isdigit() else 0
        return live.run_group(run.pk)

    async def caught_up(self) -> None:
        """What changed since the page's cursor: the whole step table, not the new rows, since
        htmx reconnects a dropped socket with the page's original cursor."""
        last = await database_sync_to_async(run_last_history_id)(self.run)
        if last <= self.cursor:
            return
        run = self.run

        def render():
            fresh = run_for_page(environment=run.environment, public_id=run.public_id)
            timeline = run_timeline(run=fresh, upto=last)
            return fresh.status, run_catch_up_html(fresh, timeline), run_actions_nudge_html(fresh)

        rendered = await self.shared(("catch-up", run.pk, last), render)
        if rendered is not None:
            await self.send_rendered(rendered, last)

    async def run_changed(self, message):
        # Batches are whole transactions: one is either behind the cursor or entirely after it.
        if message["last"] > self.cursor:
            key = ("run", message["run"], message["last"])
            await self.send_changes(key, message["first"] - 1, message["last"], message["steps"])

    async def send_changes(self, key: tuple, since: int, last: int, step_ids=None) -> None:
        run = self.run

        def render():
            fresh = run_for_page(environment=run.environment, public_id=run.public_id)
            ids = step_ids if step_ids is not None else run_steps_changed(fresh, since, last)
            timeline = run_timeline(run=fresh, since=since, step_ids=ids)
            return fresh.status, run_push_html(fresh, timeline), run_actions_nudge_html(fresh)

        rendered = await self.shared(key, render)
        if rendered is not None:
            await self.send_rendered(rendered, last)

    async def send_rendered(self, rendered: tuple, last: int) -> None:
        status, messages, nudge = rendered
        self.cursor = last
        if status != self.status:
            messages = [messages[0] + nudge, *messages[1:]]
        for message in messages:
            await self.send(text_data=message)
        self.status = status


class RunsConsumer(_PageConsumer):
    """`ws/<org>/<env>/runs/?<the list's filters>&top=<newest run on the page>`: the first
    page of the runs list. Runs newer than the top one are prepended, others replace their row
    (htmx ignores a row the page does not show)."""

    def resolve(self, environment) -> str:
        if "after" in self.query:
            return ""
        query = self.query.copy()
        top = query.pop("top", [""])[0]
        self.environment = environment
        self.filters = RunFilterForm(query or None, environment=environment).filters()
        self.filters_key = query.urlencode()
        row = environment.runs.filter(public_id=top).values_list("queued_at", "id").first()
        self.top = tuple(row) if row else None
        return live.runs_group(environment.pk)

    async def runs_changed(self, message):
        environment, filters = self.environment, self.filters

        def render():
            run = run_matching(environment=environment, filters=filters, run_id=message["run"])
            if run is None:
                return None
            return (
                (run.queued_at, run.pk),
                run_row_html(run, new=True),
                run_row_html(run, new=False),
            )

        key = ("row", message["run"], message["last"], self.filters_key)
        rendered = await self.shared(key, render)
        if rendered is None:
            return
        run_key, new, known = rendered
        if self.top is None or run_key > self.top:
            self.top = run_key
            await self.send(text_data=new)
        else:
            await self.send(text_data=known)


class FunctionFlowConsumer(_PageConsumer):
    """`ws/<org>/<env>/functions/<function_id>/`: the function page's flow-control panel, on
    the runs list's channel. When one of its runs changes, the page is told to re-fetch the
    panel (its buttons depend on the viewer's role), at most once a second: a busy function
    must not turn every step into a panel query per open page."""

    INTERVAL = 1.0

    def resolve(self, environment) -> str:
        function_id = self.scope["url_route"]["kwargs"]["function_id"]
        function = function_in_environment(environment=environment, public_id=function_id)
        if not function:
            return ""
        self.function = function
        self.nudge = flow_panel_nudge_html(function)
        self.last_sent, self.later = 0.0, None
        return live.runs_group(environment.pk)

    async def runs_changed(self, message):
        if message.get("function") != self.function.pk or self.later is not None:
            return
        wait = self.last_sent + self.INTERVAL - asyncio.get_running_loop().time()
        if wait <= 0:
            await self.send_nudge()
        else:
            # Not awaited here: changes arriving meanwhile must find it pending and be dropped.
            self.later = asyncio.create_task(self.send_nudge(after=wait))

    async def send_nudge(self, after: float = 0) -> None:
        if after:
            await asyncio.sleep(after)
        self.later = None
        self.last_sent = asyncio.get_running_loop().time()
        await self.send(text_data=self.nudge)

    async def disconnect(self, code):
        if getattr(self, "later", None) is not None:
            self.later.cancel()
        await super().disconnect(code)
