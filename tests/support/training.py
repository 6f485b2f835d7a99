"""Running the real ``train`` on an /opt/ml tree laid out by the product's ``prepare_job``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Small forests keep the contract tests quick; the defaults are exercised where it matters.
FAST_HP = {"n_estimators": "20", "max_depth": "6", "min_samples_leaf": "20"}


def run_train(root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed ``train`` console script exactly as the image does."""
    train = Path(sys.executable).with_name("train")
    return subprocess.run(
        [str(train)],
        env={**os.environ, "OPT_ML": str(root)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
