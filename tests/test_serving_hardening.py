"""End-to-end: ``serve`` on a real socket against hostile clients, its bind address and
batch transform's header rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmart.artifact import copy_model
from servers import start_server

FEATURE_LINE = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,"
    "Tier 1,Supermarket Type1"
)


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory, trained_model: Path) -> Path:
    root = tmp_path_factory.mktemp("hardening_opt_ml")
    copy_model(trained_model, root / "model")
    return root


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses (dotted) listening on ``port``, from /proc/net/tcp."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            addresses.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return addresses


def test_bind_host_comes_from_bigmart_bind_host(opt_ml, tmp_path):
    server = start_server(
        opt_ml, tmp_path / "serve.log", workers=1, extra_env={"BIGMART_BIND_HOST": "127.0.0.1"}
    )
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
        assert server.invoke(FEATURE_LINE.encode()).status == 200
    finally:
        assert server.stop() == 0
