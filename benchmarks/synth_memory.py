"""Peak memory of ``bigmart synth`` for 10,000 rows against 10,000,000 rows, in one run.

The generator streams chunks of 5,000 rows from a fixed-size item catalogue, so its peak
memory should not depend on the row count. Run from the repository root:

    .venv/bin/python -m benchmarks.synth_memory [--large 10000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.scratch import scratch_folder

CHILD = (
    "import resource, sys\n"
    "from bigmart.data import synthetic as synth\n"
    "synth.write_csv(sys.argv[1], int(sys.argv[2]), seed=1)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def measure(rows: int, folder: Path) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of one process writing ``rows`` rows."""
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder / f"{rows}.csv"), str(rows)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (folder / f"{rows}.csv").unlink()
    return int(output.strip()) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with scratch_folder("synth") as folder:
        small = [measure(args.small, folder) for _ in range(args.repeats)]
        large = [measure(args.large, folder) for _ in range(max(1, args.repeats // 3))]
    small_peak = statistics.median(p for p, _ in small)
    large_peak = statistics.median(p for p, _ in large)
    large_time = statistics.median(s for _, s in large)
    print(f"{args.small:>12,} rows: peak RSS {small_peak:7.1f} MB")
    print(
        f"{args.large:>12,} rows: peak RSS {large_peak:7.1f} MB "
        f"({large_time:.0f} s, {args.large / large_time:,.0f} rows/s)"
    )
    print(
        f"ratio large/small peak: {large_peak / small_peak:.2f} for "
        f"{args.large / args.small:,.0f}x the rows"
    )


if __name__ == "__main__":
    main()
