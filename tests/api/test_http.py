"""``bigmart api`` sheds a hostile client as ``serve`` does, and goes on answering."""

from __future__ import annotations

import socket

from support.servers import read_until_closed, send_ignoring_refusal

LIST_JOBS = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
    b"X-Amz-Target: SageMaker.ListTrainingJobs\r\n"
)


def address(api_server) -> tuple[str, int]:
    host, port = api_server.url.removeprefix("http://").split(":")
    return host, int(port)


def test_a_one_megabyte_head_is_431_and_the_api_goes_on_answering(api_server, sagemaker):
    with socket.create_connection(address(api_server), timeout=15) as raw:
        send_ignoring_refusal(raw, LIST_JOBS + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'{"__type": "ValidationException", "message": "the request head is over 32' in answer
    assert "TrainingJobSummaries" in sagemaker.list_training_jobs()


def test_a_declared_body_over_16_mebibytes_is_413_before_it_is_read(api_server):
    with socket.create_connection(address(api_server), timeout=15) as raw:
        send_ignoring_refusal(raw, LIST_JOBS + b"Content-Length: 1073741824\r\n\r\n{}")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"the request body is 1,073,741,824 bytes; this server takes at most 16,777,216" in (
        answer
    )
