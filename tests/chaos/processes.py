"""The processes of the scale-out shape, each one a restartable command: started in a session of
its own (so a kill -9 takes whatever it started too), logging to a file, and read from /proc for
the figures a scenario keeps (CPU seconds, resident memory)."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_MARK = "==== start"  # a line in a process's log before each of its starts


def seconds_into_minute() -> float:
    return time.time() % 60


def wait_until(check: Callable[[], object], *, timeout: float, every: float = 0.1, what: str):
    """Poll `check` until it returns something truthy (returned); AssertionError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Process:
    """One command of the shape, started, killed (-9) or stopped and started again as often as
    a scenario likes. `ready` says when a started process serves (a health check, a ping);
    `down` lists the windows (stopped, ready again) between a kill or stop and the
    next start."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        log_dir: Path,
        ready: Callable[[], bool] = lambda: True,
        url: str = "",
    ):
        self.name, self.command, self.env, self.ready, self.url = name, command, env, ready, url
        self.log_path = log_dir / f"{name}.log"
        self.starts = 0
        self.down: list[tuple[float, float]] = []
        self._stopped_at: float | None = None
        self._process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 60) -> "Process":
        with open(self.log_path, "ab") as log:
            log.write(f"\n{START_MARK} {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        self.wait_ready(timeout=timeout)
        if self._stopped_at is not None:
            self.down.append((self._stopped_at, time.time()))
            self._stopped_at = None
        return self

    def wait_ready(self, *, timeout: float = 60) -> None:
        def ready():
            if not self.running:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            return self.ready()

        wait_until(ready, timeout=timeout, every=0.2, what=f"{self.name} to be ready")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def kill(self) -> None:
        """kill -9: no shutdown, no lease released, nothing flushed."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._stopped_at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def output(self) -> str:
        """What the process logged since it was last started."""
        try:
            return self.log_path.read_text(errors="replace").rsplit(START_MARK, 1)[-1]
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]
