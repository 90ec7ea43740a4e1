"""Start real SDK apps as separate processes on loopback, configured by environment variables."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.live import free_port

HERE = Path(__file__).parent
TS_DIR = HERE / "ts"
SDK_PATH = "/api/inngest"


def sdk_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without any INNGEST_* variable, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    return {**clean, **env}


class SdkApp:
    def __init__(self, command: list[str], env: dict[str, str], *, cwd: Path, port: int = 0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{SDK_PATH}"
        self._env = sdk_env({**env, "PORT": str(self.port)})
        self._command, self._cwd = command, cwd
        self._process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "SdkApp":
        # A file, not a pipe: nobody reads a pipe while the app runs, and once its buffer is
        # full of access-log lines every request of the app blocks writing one more.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (open while the app runs; closed by stop)
        self._process = subprocess.Popen(
            self._command,
            env=self._env,
            cwd=self._cwd,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"SDK app exited: {self._log.read().decode()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=0.5)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("SDK app did not start listening")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._log:
            self._log.close()


def python_app(env: dict[str, str], *, script: str = "app.py", port: int = 0) -> SdkApp:
    """`port`: serve where an earlier app was (a redeploy at the same URL)."""
    return SdkApp(
        [sys.executable, str(HERE / "python" / script)], env, cwd=HERE / "python", port=port
    )


def ensure_ts_dependencies() -> None:
    """`npm ci` the official TypeScript SDK from the lock file, once per checkout."""
    stamp = TS_DIR / "node_modules" / ".package-lock.json"
    lock = TS_DIR / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=TS_DIR,
        check=True,
        capture_output=True,
    )


def ts_app(env: dict[str, str], script: str = "app.mjs", *, port: int = 0) -> SdkApp:
    ensure_ts_dependencies()
    return SdkApp(["node", script], env, cwd=TS_DIR, port=port)


def run_ts_script(script: str, env: dict[str, str], *args: str) -> str:
    """Run a one-shot script of the TS SDK package (a client, not a server); its stdout."""
    ensure_ts_dependencies()
    result = subprocess.run(
        ["node", script, *args],
        env=sdk_env(env),
        cwd=TS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed: {result.stderr[-2000:]}")
    return result.stdout
