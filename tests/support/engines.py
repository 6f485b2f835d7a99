"""A ``podman`` stand-in for tests of what bigmart asks a container engine to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: How the stand-in answers ``stop`` and ``rm``, by ``FAKE_PODMAN_REMOVAL``: ``ok`` (the
#: default), ``gone`` (podman's words for a container that does not exist), ``fail``, ``hang``.
FAKE_PODMAN = """
import http.server, json, os, sys, time

args = sys.argv[1:]
open(CALLS, "a").write(json.dumps(args) + "\\n")
if "run" in args:
    variables = dict(v.split("=", 1) for v in args if "=" in v and v.split("=")[0].isupper())
    class Ping(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass
    address = (variables["BIGMART_BIND_HOST"], int(variables["SAGEMAKER_BIND_TO_PORT"]))
    http.server.HTTPServer(address, Ping).serve_forever()
mode = os.environ.get("FAKE_PODMAN_REMOVAL", "ok")
if mode == "gone":
    sys.exit(f'Error: no container with name or ID "{args[-1]}" found: no such container')
if mode == "fail":
    sys.exit("Error: cannot lock the container store\\nsecond line: permission denied")
if mode == "hang":
    time.sleep(60)
print(args[-1])
"""


def serving_podman(tmp_path: Path) -> tuple[Path, Path]:
    """A ``podman`` whose ``run`` answers ``/ping`` on the port and address it is given and
    whose other commands answer as ``FAKE_PODMAN_REMOVAL`` says; each command line is
    appended to ``calls`` (JSON lines). Returns (its folder, calls)."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!{sys.executable}\nCALLS = {str(calls)!r}\n{FAKE_PODMAN}")
    fake.chmod(0o755)
    return fake.parent, calls


def podman_calls(calls: Path) -> list[list[str]]:
    """The command lines the stand-in was given, in order."""
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text().splitlines()]
