"""The runtime dependencies are complete: a virtualenv with `pip install -e .` alone (no test
extras, as `make .venv/.installed`) runs a Celery worker and beat on Redis."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.harness import ROOT, RedisServer

pytestmark = pytest.mark.celery  # it starts Celery (and installs a virtualenv: about a minute)
HOSTNAME = f"runtime-install-{os.getpid()}@localhost"


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # Quiet: a failed install shows pip's output.
    installed = subprocess.run(
        [*install, "-e", str(ROOT)], env=_without_this_venv(), capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def _without_this_venv() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


@pytest.fixture
def deployment(runtime_python, tmp_path):
    """The environment of a deployment on this install: SQLite, a private Redis as broker."""
    redis = RedisServer().start()
    env = {
        "PATH": f"{runtime_python.parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "SECRET_KEY": "runtime-install-test",
        "ENCRYPTION_KEY": "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyEhISE=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis.url,
        "EXECUTOR_BACKEND": "celery",
    }
    django = [str(runtime_python), "-m", "django"]
    subprocess.run([*django, "migrate", "--noinput", "-v0"], env=env, cwd=tmp_path, check=True)
    # Beat's first fire, a second after it starts: a message a worker takes.
    every_second = (
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask;"
        "every, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds');"
        "PeriodicTask.objects.create(name='nudge', interval=every,"
        " task='controlplane.engine.tasks.execute_next')"
    )
    subprocess.run([*django, "shell", "-c", every_second], env=env, cwd=tmp_path, check=True)
    yield env, tmp_path
    redis.kill()


class Celery:
    """A `celery` process of the runtime install, its output in a file."""

    def __init__(self, env, cwd: Path, *args: str):
        self.log = cwd / f"{args[0]}.log"
        command = ["celery", "-A", "controlplane", *args, "--loglevel", "INFO"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def _wait_for(condition, what: str, processes: list[Celery], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        exited = [p for p in processes if p.process.poll() is not None]
        if exited or time.monotonic() > deadline:
            raise AssertionError(f"{what}: " + "\n".join(p.output()[-3000:] for p in exited))
        time.sleep(0.2)


def test_a_worker_and_beat_run_from_the_runtime_install(deployment):
    env, cwd = deployment
    worker = Celery(env, cwd, "worker", "--pool", "threads", "--hostname", HOSTNAME)
    beat = Celery(env, cwd, "beat")
    ping = ["celery", "-A", "controlplane", "inspect", "ping", "-d", HOSTNAME]
    try:

        def pong() -> bool:
            answer = subprocess.run(ping, env=env, cwd=cwd, capture_output=True, text=True)
            return answer.returncode == 0 and "pong" in answer.stdout

        def nudged() -> bool:  # the worker's INFO line for a task it ran
            return "execute_next" in worker.output() and "succeeded" in worker.output()

        _wait_for(pong, "the worker never answered a ping", [worker, beat])
        _wait_for(nudged, "no task sent by beat ran on the worker", [worker, beat])
    finally:
        worker.stop()
        beat.stop()
    logs = worker.output() + beat.output()
    assert "Traceback" not in logs and "Error" not in logs, logs
