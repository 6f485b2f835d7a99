"""Batch transform, locally, with SageMaker's semantics: every input object read, sent and
written back as ``<name>.out``.

The real ``serve`` runs with the batch environment (``SAGEMAKER_BATCH=true``, the payload
limit, …). Each input object is split into records and mini-batches (``split``), sent
concurrently (MaxConcurrentTransforms, ``invoker``), and the answers written in input order
(``assemble``) to ``<name>.out`` under the output location, keeping the input's relative
path. An output is published only when every record of its object has an answer, so a
failed object leaves no ``.out`` and the others still complete: whatever goes wrong inside
one object (a corrupt gzip stream, a record too long or too deep to write, a lost server)
fails that object, naming its line.

Memory is bounded by the settings, not by the input: at most ``concurrency + 1``
mini-batches are held at once.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from bigmart.clipping import describe, one_line
from bigmart.codecs import CSV, JSON, JSON_LINES
from bigmart.contract import GZIP, INPUT, JobStatus
from bigmart.local import storage
from bigmart.local.lifecycle import Echo
from bigmart.local.transform.assemble import joined_header, write_answer
from bigmart.local.transform.invoker import Invoker
from bigmart.local.transform.plan import Plan
from bigmart.local.transform.progress import Progress
from bigmart.local.transform.split import Batch, ObjectReader, RecordFailure, batches, read_header

#: Content types that are text: an object of one of them starting as gzip was mislabelled.
TEXT_FORMATS = frozenset({CSV, JSON, JSON_LINES})

Answer = tuple[int, str, bytes]  # what Invoker.invoke returns: status, content type, body


@dataclass
class ObjectOutcome:
    """How one input object went."""

    input: str
    output: str
    records: int = 0
    status: str = JobStatus.COMPLETED
    line: int | None = None
    reason: str | None = None


def transform_objects(
    objects: list[storage.StoredObject],
    output: str,
    plan: Plan,
    port: int,
    *,
    echo: Echo = print,
    progress_bar: bool = False,
) -> list[ObjectOutcome]:
    """Transform every object into ``<output>/<relative>.out``; one outcome per object."""
    invoker = Invoker(port, plan)
    progress = Progress(sum(o.size for o in objects), echo, progress_bar)
    outcomes = []
    try:
        with ThreadPoolExecutor(
            plan.max_concurrent_transforms, thread_name_prefix="invoke"
        ) as pool:
            for item in objects:
                destination = storage.join(output, item.relative + ".out")
                outcome = ObjectOutcome(input=item.location, output=destination)
                try:
                    outcome.records = _transform_object(
                        item, destination, plan, invoker, pool, progress
                    )
                except RecordFailure as failure:
                    outcome.status, outcome.line = JobStatus.FAILED, failure.line
                    outcome.reason = one_line(failure.reason)
                except Exception as error:  # e.g. the output cannot be written: this object fails
                    outcome.status, outcome.reason = JobStatus.FAILED, one_line(describe(error))
                outcomes.append(outcome)
    finally:
        progress.close()
    return outcomes


def _transform_object(
    item: storage.StoredObject,
    destination: str,
    plan: Plan,
    invoker: Invoker,
    pool: ThreadPoolExecutor,
    progress: Progress,
) -> int:
    """Send one object's mini-batches, at most ``concurrency`` in flight, and write their
    answers in input order; the number of records written."""
    records_done = 0
    with storage.open_read(item.location) as raw:
        gzipped = plan.compression_type == GZIP or item.location.endswith(".gz")
        source = ObjectReader(raw, gzipped, text=plan.content_type in TEXT_FORMATS)
        header, first_line, leftover = read_header(source, plan)
        with storage.open_write(destination) as out:
            if header is not None and plan.join_source == INPUT:
                out.write(joined_header(header, plan))
            window: deque[tuple[Batch, Future[Answer]]] = deque()
            try:
                for batch in batches(source, plan, first_line, leftover):
                    window.append((batch, pool.submit(invoker.invoke, batch.body)))
                    while len(window) > plan.max_concurrent_transforms:
                        records_done += _write(*window.popleft(), out, plan, progress)
                while window:
                    records_done += _write(*window.popleft(), out, plan, progress)
            except BaseException:
                for _, pending in window:
                    pending.cancel()
                raise
    return records_done


def _write(
    batch: Batch, pending: Future[Answer], out: IO[bytes], plan: Plan, progress: Progress
) -> int:
    try:
        answer = pending.result()
    except ConnectionError as error:  # the retries are spent: the server is lost
        raise RecordFailure(batch.lines[0], str(error)) from None
    write_answer(batch, answer, out, plan)
    progress.advance(len(batch.lines), len(batch.body))
    return len(batch.lines)
