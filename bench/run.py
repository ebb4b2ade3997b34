"""`make bench`: run every benchmark and print one table (medians, baselines measured in the same run).

Usage: python -m bench.run [--quick] [--only core,http,chain,aef,...]
Each bench module exposes ``run(quick: bool) -> list[dict]`` with keys
benchmark, figure, unit, baseline, ratio, goal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

MODULES = ["core", "http", "chain", "aef", "bridge", "peers", "settlement"]
# Benchmark registries are throwaway: their signing key may live in their temporary data dir (the demo/test
# opt-in; a production registry refuses a key inside its data dir, see docs/security.md).
os.environ.setdefault("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (for a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(MODULES))
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args()
    wanted = [m for m in (args.only.split(",") if args.only else MODULES) if m]
    console = Console(stderr=True)
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in wanted:
        path = Path(__file__).with_name(f"bench_{name}.py")
        if not path.exists():
            console.print(f"[yellow]bench_{name}.py not present; skipped[/yellow]")
            continue
        started = time.perf_counter()
        console.print(f"[cyan]running bench_{name}[/cyan]")
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            rows.extend(module.run(quick=args.quick))
        except Exception as exc:  # noqa: BLE001 - one broken bench must not lose the others' figures
            failed.append(name)
            console.print_exception()
            console.print(f"[red]bench_{name} failed: {exc!r}; its rows are missing[/red]")
            continue
        console.print(f"  done in {time.perf_counter() - started:.1f} s")
    table = Table(title=f"sovcarbon benchmarks on {platform.node()} ({os.cpu_count()} cores, "
                        f"Python {platform.python_version()})")
    for col in ("benchmark", "figure", "unit", "baseline", "ratio", "goal"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in ("benchmark", "figure", "unit", "baseline", "ratio", "goal")))
    Console().print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    sys.stdout.flush()
    if failed:
        console.print(f"[red]failed: {', '.join('bench_' + n for n in failed)}[/red]")
        sys.exit(1)


if __name__ == "__main__":
    main()
