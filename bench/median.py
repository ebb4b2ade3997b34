"""Medians of several ``python -m bench.run --json FILE`` runs: ``python -m bench.median FILE...``.

Rows are matched by benchmark name (the load figure inside a name is ignored); for each, every run's figure and
ratio are printed, then the median of the numbers found in them (a figure like "p50 1.0 / p99 2.7" gives one
median per number)."""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")  # not the 50 of "p50"


def _name(benchmark: str) -> str:
    return re.sub(r"; load [\d.]+", "", benchmark)


def _medians(values: list[str]) -> str:
    numbers = [[float(x) for x in NUMBER.findall(v)] for v in values]
    if not numbers or not numbers[0] or any(len(n) != len(numbers[0]) for n in numbers):
        return "-"
    return " / ".join(f"{statistics.median(col):g}" for col in zip(*numbers, strict=True))


def main(paths: list[str]) -> None:
    rows: dict[str, list[dict[str, object]]] = {}
    for path in paths:
        for row in json.loads(Path(path).read_text()):
            rows.setdefault(_name(str(row["benchmark"])), []).append(row)
    for name, found in rows.items():
        figures = [str(r["figure"]) for r in found]
        ratios = [str(r["ratio"]) for r in found]
        print(f"{name}  [{len(found)} runs]\n  figures {figures} -> median {_medians(figures)}\n"
              f"  ratios  {ratios} -> median {_medians(ratios)}")


if __name__ == "__main__":
    main(sys.argv[1:])
