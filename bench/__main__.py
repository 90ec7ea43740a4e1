"""`python -m bench [name ...]`: run every bench/bench_*.py (or the named ones), write one
report to var/bench/<timestamp>.json and print a table."""

import importlib
import pkgutil
import sys
from pathlib import Path

from bench.report import Report


def main(argv: list[str]) -> None:
    available = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        sys.exit(f"No such benchmark: {', '.join(unknown)} (have: {', '.join(available)})")
    report = Report()
    for name in wanted:
        print(f"--- {name}", flush=True)
        importlib.import_module(f"bench.{name}").run(report)
    path = report.save()
    print(report.table())
    print(f"\nReport: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
