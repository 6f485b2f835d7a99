"""How a transform tells its user where it is: a progress bar on a terminal, log lines
through an ``Echo`` otherwise."""

from __future__ import annotations

import time
from typing import Any

from bigmart.local.lifecycle import Echo

#: Where a job's log lines go (``print`` by default; the CLI and tests pass their own).


class Progress:
    """A progress bar on a terminal (records/s, ETA by bytes); log lines otherwise."""

    def __init__(self, total_bytes: int, echo: Echo, bar: bool, every: float = 5.0) -> None:
        self.echo = echo
        self.records = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.last_log = self.started
        self.every = every
        self.total = total_bytes
        self.bar: Any = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_bytes, unit="B", unit_scale=True, desc="transform", dynamic_ncols=True
            )

    def advance(self, records: int, size: int) -> None:
        self.records += records
        self.bytes += size
        now = time.monotonic()
        rate = self.records / max(now - self.started, 1e-9)
        if self.bar is not None:
            self.bar.update(size)
            self.bar.set_postfix_str(
                f"{self.records:,} records, {rate:,.0f} records/s", refresh=False
            )
        elif now - self.last_log >= self.every:
            self.last_log = now
            share = f" ({self.bytes / self.total:.0%} of input)" if self.total else ""
            self.echo(f"transformed {self.records:,} records{share}, {rate:,.0f} records/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
