"""Run every benchmark scenario in ``bench/`` and print one summary table (``make bench``).

Scenarios are found, not listed: every ``bench/*.py`` except this runner and ``_``-prefixed
helpers, so a new scenario joins by being there. Each runs in its own process with the
stack's environment (PostgreSQL via LMSCORE_BENCH_DATABASE_URL, Redis via
LMSCORE_TEST_REDIS_URL, gunicorn workers via LMSCORE_BENCH_WORKERS); its own output streams
through, its ``--json`` figures land in ``bench/results/<scenario>-<stamp>.json`` and the
rows it offers (``"table"``, see ``_harness.table_row``) make up the summary, each next to
the baseline it measured in the same run. The summary itself goes to
``bench/results/summary-<stamp>.json`` with the machine's description.

    .venv/bin/python bench/run.py [--smoke] [--only NAME ...] [--workers N]

``--smoke`` runs each scenario at the tiny size its ``SMOKE_ARGS`` names (a check that the
harness works, not figures); a scenario without ``SMOKE_ARGS`` is skipped then.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import _harness as h

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
NOT_SCENARIOS = {"run.py"}


def discover() -> list[Path]:
    return sorted(path for path in BENCH.glob("*.py")
                  if not path.name.startswith("_") and path.name not in NOT_SCENARIOS)


def module_constant(path: Path, name: str):
    """A literal module-level constant of ``path``, read without importing the scenario."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value:
            return ast.literal_eval(node.value)
    return None


def takes_json(path: Path) -> bool:
    return '"--json"' in path.read_text(encoding="utf-8")


def run_scenario(path: Path, args: list[str], json_path: Path | None) -> tuple[int, float]:
    command = [sys.executable, str(path), *args]
    if json_path is not None:
        command += ["--json", str(json_path)]
    started = time.perf_counter()
    code = subprocess.call(command, cwd=BENCH.parent)
    return code, time.perf_counter() - started


def cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(rows: list[dict], machine: dict) -> None:
    print(f"\n== summary: {machine['cores']} cores, load average {h.load_average()}, "
          f"Python {machine['python']}, {machine['platform']}")
    header = (f"{'scenario':<14} {'measure':<52} {'rate':>12} {'unit':<8} {'p50 ms':>8} "
              f"{'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        lines = [(row["scenario"], row["measure"], row)]
        if row.get("baseline"):
            lines.append(("", "  baseline: " + row["baseline"]["measure"], row["baseline"]))
        for scenario, measure, figures in lines:
            print(f"{scenario:<14} {measure[:52]:<52} {cell(figures.get('rate_per_s')):>12} "
                  f"{row.get('unit', ''):<8} {cell(figures.get('p50_ms'), 2):>8} "
                  f"{cell(figures.get('p95_ms'), 2):>8} {cell(figures.get('p99_ms'), 2):>8} "
                  f"{cell(figures.get('errors'), 0):>6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (each scenario's SMOKE_ARGS): checks the harness")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--workers", type=int, help="gunicorn workers of the HTTP scenarios")
    options = parser.parse_args()
    if options.workers:
        os.environ["LMSCORE_BENCH_WORKERS"] = str(options.workers)
    scenarios = discover()
    if options.only:
        unknown = set(options.only) - {path.stem for path in scenarios}
        if unknown:
            raise SystemExit(f"no scenario {', '.join(sorted(unknown))}; found: "
                             f"{', '.join(path.stem for path in scenarios)}")
        scenarios = [path for path in scenarios if path.stem in options.only]

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = h.machine(os.environ.get("LMSCORE_BENCH_DATABASE_URL") or None)
    rows: list[dict] = []
    runs: dict[str, dict] = {}
    for path in scenarios:
        args = module_constant(path, "SMOKE_ARGS") if options.smoke else []
        if args is None:
            print(f"\n== {path.stem}: skipped (no SMOKE_ARGS for --smoke)")
            runs[path.stem] = {"status": "skipped"}
            continue
        json_path = RESULTS / f"{path.stem}-{stamp}.json" if takes_json(path) else None
        print(f"\n== {path.stem} {' '.join(args)}".rstrip(), flush=True)
        code, seconds = run_scenario(path, args, json_path)
        runs[path.stem] = {"status": "ok" if code == 0 else f"exit {code}",
                           "seconds": round(seconds, 1), "args": args,
                           "json": str(json_path.relative_to(BENCH.parent)) if json_path
                           and json_path.exists() else None}
        if code == 0 and json_path is not None and json_path.exists():
            rows.extend(json.loads(json_path.read_text(encoding="utf-8")).get("table", []))
        elif code != 0:
            rows.append({"scenario": path.stem, "measure": f"FAILED (exit {code})",
                         "errors": None, "baseline": None})
    print_table(rows, machine)
    summary = RESULTS / f"summary-{stamp}.json"
    h.write_json(str(summary), {"stamp": stamp, "smoke": options.smoke, "machine": machine,
                                "workers": os.environ.get("LMSCORE_BENCH_WORKERS"),
                                "scenarios": runs, "table": rows})
    print(f"\nfigures: {summary.relative_to(BENCH.parent)}")
    return 1 if any(run["status"].startswith("exit") for run in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
