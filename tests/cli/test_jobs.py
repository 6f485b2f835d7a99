"""``bigmart jobs show|describe NAME``: a name a training job and an endpoint share (names
are unique per kind, as on SageMaker) is shown for the ``--kind`` asked, and without it the
command says which kinds hold it instead of picking one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bigmart.local.jobs import JobStore
from support.cli import BIGMART


def _jobs(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIGMART, "jobs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )


def test_a_shared_name_is_shown_by_kind_and_never_guessed(tmp_path):
    store = JobStore(tmp_path)
    store.create("demo", "training", {"HyperParameters": {"n_estimators": "5"}}, "Completed")
    store.create("demo", "endpoint", {"EndpointConfigName": "demo"}, "Failed")
    store.create("solo", "transform", {}, "Completed")

    ambiguous = _jobs(tmp_path, "show", "demo")
    assert ambiguous.returncode == 2
    assert "'demo' names a training job and an endpoint" in ambiguous.stderr
    assert "--kind training or --kind endpoint" in ambiguous.stderr
    assert _jobs(tmp_path, "describe", "demo").returncode == 2

    shown = json.loads(_jobs(tmp_path, "show", "demo", "--kind", "endpoint").stdout)
    assert (shown["kind"], shown["status"]) == ("endpoint", "Failed")
    described = _jobs(tmp_path, "describe", "demo", "--kind", "training")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["TrainingJobStatus"] == "Completed"
    assert json.loads(_jobs(tmp_path, "show", "solo").stdout)["kind"] == "transform"

    missing = _jobs(tmp_path, "show", "solo", "--kind", "endpoint")
    assert missing.returncode == 2 and "no endpoint named 'solo'" in missing.stderr
    listed = _jobs(tmp_path, "list").stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [
        ["demo", "training"],
        ["demo", "endpoint"],
        ["solo", "transform"],
    ]
    assert "needed when a" in _jobs(tmp_path, "--help").stdout.replace("\n", " ")
