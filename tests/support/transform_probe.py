"""Run a transform over INPUT into OUTPUT against the answering server, in this process
alone, and print the outcomes and this process's peak RSS as JSON (for memory tests).

    cd tests && python -m support.transform_probe INPUT OUTPUT '{"max_payload_mb": 1}'
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from bigmart.local import storage
from bigmart.local.transform.client import transform_objects
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import Plan
from support.answering_server import answering_server


def main() -> None:
    source, output, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    plan = Plan.resolve(TransformOptions(**options), {})
    with answering_server() as port:
        outcomes = transform_objects(
            storage.list_objects(source), output, plan, port, echo=lambda _: None
        )
    print(json.dumps({"outcomes": [asdict(o) for o in outcomes], "peak_mib": peak_mib()}))


def peak_mib() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over from
    the parent through vfork and exec, so a large pytest process would be measured."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
