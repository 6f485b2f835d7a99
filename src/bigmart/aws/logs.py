"""Following a SageMaker job's CloudWatch log while it runs.

SageMaker writes each instance's output to a stream ``<job name>/<host>-<id>`` in
``/aws/sagemaker/TrainingJobs`` (or ``TransformJobs``); an endpoint's go to
``/aws/sagemaker/Endpoints/<name>``. The streams appear only once instances start, so a
missing group or stream means "nothing yet", never an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bigmart.aws.errors import explain
from bigmart.local.lifecycle import Echo


class LogTail:
    """Echo each new event of every stream under ``prefix`` in ``group``, exactly once.

    Each stream keeps its own forward token, so a poll costs one call per stream plus one to
    list them. With several streams (several hosts) each line is prefixed with its stream.
    Without permission to read logs the job is still followed: one line says why not.
    """

    def __init__(self, logs: Any, group: str, prefix: str, echo: Echo = print) -> None:
        self.logs = logs
        self.group = group
        self.prefix = prefix
        self.echo = echo
        self.tokens: dict[str, str | None] = {}
        self.enabled = True

    def poll(self) -> int:
        """Echo what arrived since the last poll; returns how many events that was."""
        if not self.enabled:
            return 0
        try:
            streams = self._stream_names()
            return sum(self._read(stream, several=len(streams) > 1) for stream in streams)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return 0
            if code in {"AccessDeniedException", "AccessDenied"}:
                self.enabled = False
                self.echo(f"(not following the log {self.group}: {explain(error)})")
                return 0
            raise

    def _stream_names(self) -> list[str]:
        pages = self.logs.get_paginator("describe_log_streams").paginate(
            logGroupName=self.group, logStreamNamePrefix=self.prefix
        )
        return sorted(stream["logStreamName"] for page in pages for stream in page["logStreams"])

    def _read(self, stream: str, several: bool) -> int:
        label = f"[{stream.removeprefix(self.prefix)}] " if several else ""
        count = 0
        token = self.tokens.get(stream)
        while True:
            request: dict[str, Any] = {
                "logGroupName": self.group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                request["nextToken"] = token
            page = self.logs.get_log_events(**request)
            for event in page["events"]:
                self.echo(label + event["message"].rstrip("\n"))
            count += len(page["events"])
            # The forward token stays the same once the end of the stream is reached.
            finished = not page["events"] or page.get("nextForwardToken") == token
            token = page.get("nextForwardToken", token)
            self.tokens[stream] = token
            if finished:
                return count


def follow(
    describe: Callable[[], dict[str, Any]],
    *,
    label: str,
    state: Callable[[dict[str, Any]], str],
    done: Callable[[dict[str, Any]], bool],
    echo: Echo,
    tail: LogTail | None,
    poll_seconds: float,
    timeout_seconds: float | None,
) -> dict[str, Any]:
    """Describe a resource until ``done``: echo each change of ``state`` and the log's new
    lines; return the last description. Past ``timeout_seconds``, ``WaitTimeout`` (the
    resource goes on; only the waiting stops)."""
    from bigmart.aws.errors import WaitTimeout

    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    shown = None
    while True:
        description = describe()
        current = state(description)
        if current != shown:
            echo(f"{label}: {current}")
            shown = current
        if tail is not None:
            tail.poll()
        if done(description):
            return description
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"{label} is still {current} after {timeout_seconds} s")
        time.sleep(poll_seconds)
