"""One benchmark run's report: environment, baselines, results and ratios, as JSON and a table."""

import json
import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_sha() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


class Report:
    def __init__(self):
        self.started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.env = {
            "nproc": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "django": version("django"),
            "psycopg": version("psycopg"),
            "uvicorn": version("uvicorn"),
            "git_sha": _git_sha(),
        }
        self.baselines: dict[str, dict] = {}
        self.results: dict[str, dict] = {}
        self.ratios: dict[str, float] = {}

    def ratio(self, name: str, numerator: float, denominator: float) -> None:
        self.ratios[name] = round(numerator / denominator, 3) if denominator else float("nan")

    def as_dict(self) -> dict:
        return {
            "env": self.env,
            "baselines": self.baselines,
            "results": self.results,
            "ratios": self.ratios,
        }

    def save(self, directory: Path = ROOT / "var" / "bench") -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.started}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """Each baseline (B) and result (R) with its own figures, then the ratios."""
        lines = [f"{k}: {v}" for k, v in self.env.items()]
        lines.append("")
        for kind, rows in (("B", self.baselines), ("R", self.results)):
            for name, row in rows.items():
                figures = ", ".join(f"{key}={_cell(value)}" for key, value in row.items())
                lines.append(f"{kind} {name:26} {figures}")
        lines += ["", "ratios:"] + [f"  {name:30} {value}" for name, value in self.ratios.items()]
        return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)
