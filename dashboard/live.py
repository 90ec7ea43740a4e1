"""What a run's page and the runs list show, as HTML: for the views and for the consumers.

The page, an htmx request and a websocket push render the same partials of
`dashboard/run_detail.html` and `dashboard/runs.html`; pushes add `hx-swap-oob` so htmx puts
each fragment where the page has it. Pushed markup goes to everyone watching, whatever their
role: role-dependent parts (the action buttons) are re-fetched by the page instead.
"""

from django.template import loader

from controlplane.runs.metadata import SCORE_KIND
from controlplane.runs.models import MetadataScope, Run
from controlplane.runs.selectors import Timeline, metadata_of, run_defer_links, scores_of


def render_to_string(template: str, context: dict) -> str:
    return loader.render_to_string(template, context).strip()


def run_page_context(run: Run, timeline: Timeline) -> dict:
    return {
        "run": run,
        "rows": timeline.rows,
        "replays": list(run.replays.order_by("id").values_list("public_id", flat=True)),
        "defer_links": run_defer_links(run),
        **_metadata_context(run),
    }


def _metadata_context(run: Run) -> dict:
    """The header's scores (the run's and its steps') and the run's own metadata; a step's
    shows in its row."""
    entries = metadata_of(run)
    return {
        "scores": scores_of(entries),
        "run_metadata": [
            e for e in entries if e.scope == MetadataScope.RUN and e.kind != SCORE_KIND
        ],
    }


def run_push_html(run: Run, timeline: Timeline) -> list[str]:
    """The run's header, its known steps replaced, its new steps appended: one websocket
    message each, since a browser parses table rows only where a message starts with one."""
    context = {**run_page_context(run, timeline), "oob": True}
    known = [row for row in timeline.rows if row.step.step_id not in timeline.new]
    new = [row for row in timeline.rows if row.step.step_id in timeline.new]
    messages = [render_to_string("dashboard/run_detail.html#run-header", context)]
    if known:
        messages.append("".join(_step_row(context, row) for row in known))
    if new:
        rows = "".join(_step_row({"run": run}, row) for row in new)
        messages.append(f'<tbody hx-swap-oob="beforeend:#steps-body">{rows}</tbody>')
    return messages


def run_catch_up_html(run: Run, timeline: Timeline) -> list[str]:
    """The run's header and its whole step table, replacing what the page shows: sent when a
    socket (re)connects, so a reconnect with the page's original cursor cannot add a step
    twice."""
    context = {**run_page_context(run, timeline), "oob": True}
    header = render_to_string("dashboard/run_detail.html#run-header", context)
    rows = "".join(_step_row({"run": run}, row) for row in timeline.rows)
    return [header, f'<tbody id="steps-body" hx-swap-oob="true">{rows}</tbody>']


def _step_row(context: dict, row) -> str:
    return render_to_string("dashboard/run_detail.html#step-row", {**context, "row": row})


def run_actions_nudge_html(run: Run) -> str:
    """Sent when the status changed: each page re-fetches its own (role-dependent) buttons."""
    return render_to_string("dashboard/run_detail.html#run-actions-nudge", {"run": run})


def run_row_html(run: Run, *, new: bool) -> str:
    """A row of the runs list: prepended to the list when new, else replacing itself."""
    if new:
        row = render_to_string("dashboard/runs.html#run-row", {"run": run})
        return f'<tbody hx-swap-oob="afterbegin:#runs-body">{row}</tbody>'
    return render_to_string("dashboard/runs.html#run-row", {"run": run, "oob": True})


def flow_panel_nudge_html(function) -> str:
    """Sent when a run of the function changed: the page re-fetches its flow-control panel."""
    return render_to_string(
        "dashboard/function_detail.html#flow-nudge", {"function": function, "nudge": True}
    )
