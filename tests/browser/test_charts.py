"""The function page charts the runs a real SDK app just executed."""

import os
import re

import pytest
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import expect

from controlplane.engine.cron import FIRE_CRON_TASK
from controlplane.runs.models import RunStatus
from tests.browser.test_keys import sign_in
from tests.engine import conftest as engine_conftest
from tests.engine import test_python_sdk as sdk
from tests.engine.test_python_sdk import APP, run_of, send

pytestmark = pytest.mark.django_db(transaction=True)
# The engine's fixtures (tests/engine/conftest.py) and its synced Python SDK app.
engine, app_env, _fast_engine = (
    engine_conftest.engine,
    engine_conftest.app_env,
    engine_conftest._fast_engine,
)
py_app, env = sdk.py_app, sdk.env


@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_the_function_page_charts_runs_just_executed(page, world, env, engine):
    # The app's minutely cron would add a completed run to the overview at a minute's turn.
    PeriodicTask.objects.filter(task=FIRE_CRON_TASK).update(enabled=False)
    runs = [run_of(send(env, "engine/chain", {"n": n})) for n in (1, 2, 3)]
    assert {run.status for run in runs} == {RunStatus.COMPLETED}
    failed = run_of(send(env, "engine/hopeless"), slug=f"{APP}-hopeless")
    assert failed.status == RunStatus.FAILED
    chain = runs[0].function

    sign_in(page, world.viewer.email)
    page.goto(f"/org-a/production/functions/{chain.public_id}/")
    charts = page.locator("#charts")
    expect(charts.get_by_role("img", name="Runs by status, last day")).to_be_visible()
    by_status = charts.locator("#chart-runs-by-status")
    # The three runs may straddle a bucket boundary: count them over every bar.
    expect(by_status.locator("rect title").first).to_contain_text("completed: ")
    titles = by_status.locator("rect title").evaluate_all("els => els.map(e => e.textContent)")
    assert sum(int(t.rsplit("completed: ", 1)[1]) for t in titles if "completed: " in t) == 3
    expect(by_status.locator(".legend [data-series=completed]")).to_have_text("completed 3")
    throughput = charts.locator("#chart-throughput")
    expect(throughput.locator(".legend [data-series=started]")).to_have_text("started 3")
    expect(throughput.locator(".legend [data-series=finished]")).to_have_text("finished 3")
    expect(charts.locator("#chart-failure-rate .legend")).to_contain_text("failed % 0")
    durations = charts.locator("#chart-step-duration polyline[data-series=p95]")
    expect(durations).to_have_attribute("points", re.compile(r"\d"))

    # The range switch swaps the charts in place (htmx), now by minute.
    charts.get_by_role("link", name="Last hour").click()
    expect(page.locator("#charts [aria-current=true]")).to_have_text("Last hour")
    expect(page.locator("#charts [aria-current=true]")).to_have_text("Last hour")
    expect(page.locator("#chart-runs-by-status .legend [data-series=completed]")).to_have_text(
        "completed 3"
    )
    assert page.url.endswith(f"/functions/{chain.public_id}/")  # swapped, not navigated

    if shot := os.environ.get("CHARTS_SCREENSHOT"):  # for a person to look at
        page.locator("#charts").screenshot(path=shot)
    page.goto("/org-a/production/")
    overview = page.locator("#chart-runs-by-status .legend")
    expect(overview.locator("[data-series=completed]")).to_have_text("completed 3")
    expect(overview.locator("[data-series=failed]")).to_have_text("failed 1")
    expect(page.locator("#chart-failure-rate .legend")).to_contain_text("failed % 25")
