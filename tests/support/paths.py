"""Where the checkout, the tests and the real Big Mart data are."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
REAL_DATA = Path(os.environ.get("BIGMART_DATA", REPO.parent / "shared" / "data" / "bigmart"))
