"""Batch transform end to end against in-process prediction, and its memory by file size.

In one run: a synthetic CSV (default 1,000,000 rows, ~90 MB) goes through
``bigmart transform`` (the real ``serve``, SageMaker's batch semantics, MultiRecord 6 MB
mini-batches) and through ``bigmart predict`` (in-process, no server) on the same file and
the same model. Then the transform process's peak memory is measured for 100,000 rows and
for the full file, to show it does not grow with the file, and for a small ``.csv.gz``
holding one very long line (default 400 MB), which must be refused without being read
whole. Run from the repository root:

    .venv/bin/python -m benchmarks.transform [--rows 1000000] [--repeats 3] [--long-line-mb 400]

Target (issue 4): >= 50,000 records/s end to end; peak memory independent of file size.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.scratch import scratch_folder

BIN = Path(sys.executable).parent


def bigmart(*args: str, env: dict[str, str], fails: bool = False) -> tuple[float, int]:
    """Run ``bigmart`` and return its wall time and the peak RSS (bytes) of that process
    alone (sampled from /proc: the server's workers are not counted). ``fails``: the
    command is expected to exit 1 (a failed job)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "bigmart"), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        status = Path(f"/proc/{process.pid}/status")
        while not done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, errors = process.communicate()
    finally:  # Ctrl-C or SIGTERM here: stop the job (it stops its server) before the
        # scratch folder it writes into is removed
        done.set()
        if process.poll() is None:
            process.terminate()
            process.wait()
    sampler.join()
    if process.returncode != (1 if fails else 0):
        raise SystemExit(
            f"bigmart {args[0]} exited {process.returncode}: {errors.decode()[-2000:]}"
        )
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-line-mb", type=int, default=400)
    args = parser.parse_args()

    with scratch_folder("transform") as work:
        env = {**os.environ, "BIGMART_HOME": str(work / "home")}
        print("training a model (defaults) on synthetic rows ...", flush=True)
        subprocess.run(
            [str(BIN / "bigmart"), "train", "--output", str(work / "runs"), "--name", "bench"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        model = str(work / "runs" / "bench" / "output" / "model.tar.gz")
        files = {}
        for rows in (args.small_rows, args.rows):
            path = work / f"in-{rows}" / "rows.csv"
            subprocess.run(
                [
                    str(BIN / "bigmart"),
                    "synth",
                    "--rows",
                    str(rows),
                    "--seed",
                    "9",
                    "--no-target",
                    "--output",
                    str(path),
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            files[rows] = path
        big = files[args.rows]
        print(
            f"input: {args.rows:,} rows, {big.stat().st_size / 1e6:.0f} MB; "
            f"{args.repeats} runs each, medians; {os.cpu_count()} cores\n",
            flush=True,
        )

        transform_times, predict_times, peaks, mem_peaks = [], [], {}, {}
        for run in range(args.repeats):
            seconds, peak = bigmart(
                "transform",
                "--model",
                model,
                "--input",
                str(big.parent),
                "--output",
                str(work / f"out-{run}"),
                env=env,
            )
            transform_times.append(seconds)
            peaks.setdefault(args.rows, []).append(peak)
            seconds, _ = bigmart(
                "predict",
                "--model",
                model,
                "--input",
                str(big),
                "--output",
                str(work / f"pred-{run}.csv"),
                env=env,
            )
            predict_times.append(seconds)
            same = (work / f"out-{run}" / "rows.csv.out").read_bytes() == (
                work / f"pred-{run}.csv"
            ).read_bytes()
            if not same:
                raise SystemExit("transform and predict outputs differ")
        # Memory is bounded by MaxPayloadInMB x (concurrency + 1) mini-batches in flight. A
        # 100k-row file is only 1.5 mini-batches of 6 MB and never fills that window; with
        # 1 MB mini-batches both files do, so the comparison is about the file size alone.
        for rows in (args.small_rows, args.rows):
            for run in range(args.repeats):
                _, peak = bigmart(
                    "transform",
                    "--model",
                    model,
                    "--input",
                    str(files[rows].parent),
                    "--output",
                    str(work / f"mem-{rows}-{run}"),
                    "--max-payload-mb",
                    "1",
                    env=env,
                )
                mem_peaks.setdefault(rows, []).append(peak)
        long_line = work / "long" / "line.csv.gz"
        long_line.parent.mkdir()
        with gzip.open(long_line, "wb") as handle:
            handle.write(big.read_bytes()[:1000].rsplit(b"\n", 1)[0] + b"\n")  # header, rows
            for _ in range(args.long_line_mb):
                handle.write(b"x" * 1024 * 1024)
            handle.write(b"\n")
        long_peaks = {}
        for mode, extra in (("in blocks", []), ("record by record", ["--join-source", "Input"])):
            _, long_peaks[mode] = bigmart(
                "transform",
                "--model",
                model,
                "--input",
                str(long_line),
                "--output",
                str(work / "long-out"),
                *extra,
                env=env,
                fails=True,
            )
        long_size = long_line.stat().st_size / 1e6

    transform = statistics.median(transform_times)
    predict = statistics.median(predict_times)
    rate, in_process = args.rows / transform, args.rows / predict
    print(f"{'':36}{'seconds':>10}{'records/s':>12}")
    print(f"{'bigmart transform (end to end)':36}{transform:>10.1f}{rate:>12,.0f}")
    print(f"{'bigmart predict (in-process)':36}{predict:>10.1f}{in_process:>12,.0f}")
    print(f"ratio transform / predict: {rate / in_process:.2f} (outputs identical)")
    default_peak = statistics.median(peaks[args.rows]) / 1e6
    small_peak = statistics.median(mem_peaks[args.small_rows]) / 1e6
    big_peak = statistics.median(mem_peaks[args.rows]) / 1e6
    print(
        f"\npeak RSS of the transform process, 1 MB mini-batches: {args.small_rows:,} rows "
        f"{small_peak:.0f} MB, {args.rows:,} rows {big_peak:.0f} MB (ratio "
        f"{big_peak / small_peak:.2f} for {args.rows / args.small_rows:.0f}x the rows)"
    )
    print(f"peak RSS with the default 6 MB mini-batches, {args.rows:,} rows: {default_peak:.0f} MB")
    for mode, peak in long_peaks.items():
        print(
            f"peak RSS refusing one {args.long_line_mb} MB line ({long_size:.2f} MB .csv.gz), "
            f"{mode}: {peak / 1e6:.0f} MB"
        )
    print(f"target >= 50,000 records/s: {'met' if rate >= 50_000 else 'MISSED'}")
    print(
        f"target memory independent of size: {'met' if big_peak <= small_peak * 1.2 else 'MISSED'}"
    )
    bounded = max(long_peaks.values()) / 1e6 <= default_peak * 1.2
    print(f"target memory independent of line length: {'met' if bounded else 'MISSED'}")


if __name__ == "__main__":
    main()
