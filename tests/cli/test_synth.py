"""``bigmart synth``: synthetic rows shaped like Big Mart's."""

from __future__ import annotations

import csv
import hashlib

from support.cli import bigmart


def test_synth_is_deterministic_and_shaped_like_big_mart(tmp_path):
    for name in ("a.csv", "b.csv"):
        assert (
            bigmart(
                "synth", "--rows", "2000", "--seed", "5", "--output", str(tmp_path / name)
            ).returncode
            == 0
        )
    a, b = (tmp_path / "a.csv").read_bytes(), (tmp_path / "b.csv").read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert len(rows) == 2000
    assert {r["Item_Fat_Content"] for r in rows} == {"Low Fat", "LF", "low fat", "Regular", "reg"}
    assert any(r["Item_Weight"] == "" for r in rows)
    assert any(r["Outlet_Size"] == "" for r in rows)
    assert any(float(r["Item_Visibility"]) == 0 for r in rows)
    assert len({r["Outlet_Identifier"] for r in rows}) == 10
    per_item = {}
    for r in rows:
        per_item.setdefault(r["Item_Identifier"], set()).add(r["Outlet_Identifier"])
    assert max(len(outlets) for outlets in per_item.values()) >= 3
