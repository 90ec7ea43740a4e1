"""The fault-injection suite (marker `chaos`, set by tests/conftest.py from the folder): one
scale-out shape for the package, healed after every scenario; each scenario's figures go into
a table written at the end of the session and shown in the terminal summary."""

import time
from pathlib import Path

import pytest

from tests.chaos.figures import FIGURES, Row, table
from tests.chaos.services import services_missing
from tests.chaos.shape import Shape

HERE = Path(__file__).parent
FIGURES_FILE = pytest.StashKey[Path]()
# Reads the cron fires of every scenario before it: runs after the others.
LAST = "tests.chaos.test_cron"


def pytest_collection_modifyitems(items):
    last = [item for item in items if item.module.__name__ == LAST]
    rest = [item for item in items if item.module.__name__ != LAST]
    ours = [n for n, item in enumerate(rest) if item.path.parent == HERE]
    if last and ours:
        items[:] = rest[: ours[-1] + 1] + last + rest[ours[-1] + 1 :]


@pytest.fixture(scope="package")
def shape(tmp_path_factory, request):
    if reason := services_missing():
        pytest.skip(f"the chaos suite needs {reason}")
    root = tmp_path_factory.mktemp("chaos")
    request.config.stash[FIGURES_FILE] = root / "figures.md"
    shape = Shape(root)
    try:
        yield shape.start()
    finally:
        shape.stop()
        rows = request.config.stash.get(FIGURES, {})
        (root / "figures.md").write_text(table(rows) + "\n")


@pytest.fixture
def figures(shape, request) -> Row:
    """This scenario's row of figures; afterwards the shape is healed for the next one (and
    the row says what had to be restarted)."""
    row = Row()
    request.config.stash.setdefault(FIGURES, {})[request.node.name.removeprefix("test_")] = row
    started = time.monotonic()
    yield row
    row.seconds = time.monotonic() - started
    if restarted := shape.heal():
        healed = f"healed by restarting {', '.join(restarted)}"
        row.notes = f"{row.notes}; {healed}" if row.notes else healed


def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(FIGURES, None)
    if not rows:
        return
    terminalreporter.write_sep("=", "chaos figures")
    terminalreporter.write_line(table(rows))
    if path := config.stash.get(FIGURES_FILE, None):
        terminalreporter.write_line(f"(written to {path}; process logs beside it in logs/)")
