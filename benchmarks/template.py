"""Figures for the template itself: how long `copier copy --defaults` takes, and how
long the test matrix (and optionally the whole suite) takes to run.

    uv run python benchmarks/template.py              # generation time only
    uv run python benchmarks/template.py --matrix     # + tests/test_matrix.py
    uv run python benchmarks/template.py --suite      # + the whole suite

It prints figures; it judges nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def time_copy(runs: int) -> list[float]:
    """`copier copy --trust --defaults` from this repository, as a user runs it
    (post-copy task included), into a fresh folder each time."""
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(runs):
            dest = Path(scratch) / f"project{index}"
            started = time.perf_counter()
            subprocess.run(
                [
                    str(BIN / "copier"),
                    "copy",
                    "--trust",
                    "--defaults",
                    "--quiet",
                    "--data",
                    "project_name=Benchmark",
                    str(ROOT),
                    str(dest),
                ],
                check=True,
                capture_output=True,
            )
            timings.append(time.perf_counter() - started)
            shutil.rmtree(dest)
    return timings


def time_pytest(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "-n", "auto", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--matrix", action="store_true")
    parser.add_argument("--suite", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    timings = time_copy(args.runs)
    print(
        f"copier copy --defaults: median {statistics.median(timings):.2f} s over "
        f"{len(timings)} runs (min {min(timings):.2f}, max {max(timings):.2f}); "
        "target <= 2 s"
    )
    if args.matrix:
        seconds, summary = time_pytest("tests/test_matrix.py")
        print(
            f"test matrix (tests/test_matrix.py): {seconds / 60:.1f} min wall; {summary}"
        )
    if args.suite:
        seconds, summary = time_pytest()
        print(f"whole suite: {seconds / 60:.1f} min wall; {summary}")


if __name__ == "__main__":
    main()
