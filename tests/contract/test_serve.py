"""End-to-end: a real ``serve`` process on a real socket."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bigmart.local.server_process import PING_TIMEOUT_SECONDS, ServerError
from bigmart.model.artifact import rewrite_model
from support.servers import FEATURE_LINE, read_until_closed, serve_process, start_server

HEADER = (
    "Item_Identifier,Item_Weight,Item_Fat_Content,Item_Visibility,Item_Type,Item_MRP,"
    "Outlet_Identifier,Outlet_Establishment_Year,Outlet_Size,Outlet_Location_Type,"
    "Outlet_Type"
)
RECORD = dict(zip(HEADER.split(","), FEATURE_LINE.split(","), strict=True))


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory, trained_model: Path) -> Path:
    root = tmp_path_factory.mktemp("serve_opt_ml")
    rewrite_model(trained_model, root / "model")
    return root


@pytest.fixture(scope="module")
def server(opt_ml, tmp_path_factory):
    running = start_server(opt_ml, tmp_path_factory.mktemp("logs") / "serve.log")
    yield running
    running.stop()


def predictions_csv(response) -> list[float]:
    assert response.status == 200, response.body
    return [float(line) for line in response.body.decode().splitlines()]


def test_ping_is_200_with_an_empty_body(server):
    response = server.request("GET", "/ping")
    assert (response.status, response.body) == (200, b"")


def test_execution_parameters_real_time_defaults(server):
    response = server.request("GET", "/execution-parameters")
    assert response.status == 200
    assert json.loads(response.body) == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/invocations", 405), ("POST", "/ping", 405)],
)
def test_unknown_routes(server, method, path, status):
    response = server.request(method, path, b"" if method == "POST" else None)
    assert response.status == status
    assert "error" in json.loads(response.body)


def test_csv_without_header_one_prediction_per_row_in_order(server):
    one = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    other = FEATURE_LINE.replace("107.8622", "250.0")
    both = predictions_csv(server.invoke(f"{FEATURE_LINE}\n{other}\n".encode()))
    assert len(one) == 1 and len(both) == 2
    assert both[0] == one[0] and both[1] != both[0]


def test_csv_with_header_charset_and_training_layout(server):
    expected = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    with_header = server.invoke(f"{HEADER}\n{FEATURE_LINE}\n".encode(), "text/csv; charset=utf-8")
    assert predictions_csv(with_header) == expected
    twelve = server.invoke(f"{FEATURE_LINE},1234.5\n".encode())
    assert predictions_csv(twelve) == expected
    reordered = (
        ",".join(reversed(HEADER.split(","))) + "\n" + ",".join(reversed(FEATURE_LINE.split(",")))
    )
    assert predictions_csv(server.invoke(reordered.encode())) == expected


def test_no_content_type_means_csv_and_quoted_fields_parse(server):
    quoted = FEATURE_LINE.replace("Snack Foods", '"Snack Foods"')
    expected = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    assert predictions_csv(server.invoke(quoted.encode(), content_type=None)) == expected


def test_empty_fields_are_missing_values(server):
    cells = FEATURE_LINE.split(",")
    cells[1] = cells[8] = ""
    assert len(predictions_csv(server.invoke(",".join(cells).encode()))) == 1


def test_json_forms_agree_with_csv(server):
    expected = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    values = FEATURE_LINE.split(",")
    bodies = [
        {"instances": [RECORD]},
        {"instances": [values]},
        [RECORD],
        RECORD,
        {"columns": list(RECORD), "data": [values]},
    ]
    for body in bodies:
        response = server.invoke(
            json.dumps(body).encode(), "application/json", accept="application/json"
        )
        assert response.status == 200, (body, response.body)
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.body)["predictions"] == pytest.approx(expected)


def test_json_numbers_are_accepted_as_numbers(server):
    record = {
        **RECORD,
        "Item_Weight": 20.75,
        "Item_MRP": 107.8622,
        "Outlet_Establishment_Year": 1999,
        "Item_Visibility": 0.007564836,
    }
    expected = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    assert (
        predictions_csv(server.invoke(json.dumps([record]).encode(), "application/json"))
        == expected
    )


def test_json_lines_in_and_out(server):
    lines = [json.dumps(RECORD), json.dumps(FEATURE_LINE.split(",")), json.dumps(RECORD)]
    response = server.invoke(
        "\n".join(lines).encode(), "application/jsonlines", accept="application/jsonlines"
    )
    assert response.status == 200
    out = [json.loads(line) for line in response.body.decode().splitlines()]
    assert len(out) == 3 and out[0] == out[1] == out[2]
    assert set(out[0]) == {"prediction"}


@pytest.mark.parametrize("accept", [None, "*/*", "text/csv", "text/html, text/csv;q=0.5"])
def test_accept_defaults_to_csv(server, accept):
    response = server.invoke(FEATURE_LINE.encode(), accept=accept)
    assert response.status == 200 and response.headers["content-type"] == "text/csv"


def test_unsupported_accept_is_406(server):
    response = server.invoke(FEATURE_LINE.encode(), accept="text/html")
    assert response.status == 406 and "Accept" in json.loads(response.body)["error"]


def test_custom_attributes_are_echoed_and_unknown_headers_ignored(server):
    response = server.invoke(
        FEATURE_LINE.encode(),
        **{
            "X-Amzn-SageMaker-Custom-Attributes": "trace=abc",
            "X-Amzn-SageMaker-Target-Model": "whatever",
            "X-Something-New": "1",
        },
    )
    assert response.status == 200
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "trace=abc"


BAD_INPUTS = [
    ("malformed-csv", b'FDW58,"unterminated', "text/csv", {"error"}),
    ("malformed-json", b'{"instances": [', "application/json", {"error"}),
    ("wrong-column-count", b"a,b,c\n", "text/csv", {"error", "row"}),
    (
        "text-in-numeric",
        FEATURE_LINE.replace("107.8622", "cheap").encode(),
        "text/csv",
        {"error", "row", "column"},
    ),
    (
        "non-finite",
        FEATURE_LINE.replace("107.8622", "inf").encode(),
        "text/csv",
        {"error", "row", "column"},
    ),
    ("empty-body", b"", "text/csv", {"error", "offset"}),
    ("whitespace-body", b"\n\n  \n", "text/csv", {"error", "offset"}),
    (
        "invalid-utf8",
        FEATURE_LINE.encode().replace(b"Snack", b"Sn\xffck"),
        "text/csv",
        {"error", "offset"},
    ),
    ("csv-unclosed-quote", f'{FEATURE_LINE}\n"FDW58,1\n'.encode(), "text/csv", {"error", "row"}),
    (
        "json-malformed",
        json.dumps([RECORD, RECORD]).encode()[:-2],
        "application/json",
        {"error", "row", "offset"},
    ),
    (
        "json-non-finite",
        json.dumps([{**RECORD, "Item_MRP": float("inf")}]).encode(),  # Infinity: not JSON
        "application/json",
        {"error", "row", "column"},
    ),
    ("json-wrong-shape", b'{"rows": 3}', "application/json", {"error"}),
    ("json-mixed-records", json.dumps([RECORD, 5]).encode(), "application/json", {"error", "row"}),
    ("jsonlines-bad-line", b'{"a": 1}\n{oops', "application/jsonlines", {"error", "row"}),
    (
        "json-object-in-field",
        json.dumps([{**RECORD, "Item_Type": {"x": 1}}]).encode(),
        "application/json",
        {"error", "row", "column"},
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "content_type", "fields"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_400_naming_where_and_the_server_carries_on(
    server, name, body, content_type, fields
):
    response = server.invoke(body, content_type)
    assert response.status == 400, response.body
    detail = json.loads(response.body)
    assert fields <= set(detail), detail
    if "column" in fields:
        assert detail["row"] == 1 and detail["column"] in RECORD
    assert server.invoke(FEATURE_LINE.encode()).status == 200


def test_unsupported_content_type_is_415(server):
    response = server.invoke(b"<rows/>", "application/xml")
    assert response.status == 415
    assert "application/xml" in json.loads(response.body)["error"]
    assert server.invoke(FEATURE_LINE.encode()).status == 200


def _readme_curl_line() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    serving = readme[readme.index("## Serving") : readme.index("## Batch transform")]
    (line,) = [line for line in serving.splitlines() if line.startswith("curl ")]
    return line


@pytest.mark.parametrize("as_written", [True, False], ids=["as-written", "without-header"])
def test_the_readme_curl_line_scores_a_csv_file(server, tmp_path, as_written):
    """The README's curl line, run as written (but for the port): one prediction per row.
    Without its Content-Type header curl sends a form type: 415, saying what to send."""
    line = _readme_curl_line().replace(":8080/", f":{server.port}/")
    if not as_written:
        line = line.replace(" -H 'Content-Type: text/csv'", " -s")
    (tmp_path / "rows.csv").write_text(f"{FEATURE_LINE}\n{FEATURE_LINE}\n")
    done = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    if as_written:
        predictions = [float(text) for text in done.stdout.splitlines()]
        assert len(predictions) == 2 and predictions[0] == predictions[1] > 0
    else:
        error = json.loads(done.stdout)["error"]
        assert "'application/x-www-form-urlencoded' is not supported" in error
        assert "text/csv, application/json, application/jsonlines" in error
        assert "-H 'Content-Type: text/csv'" in error


def test_413_is_decided_from_content_length_before_the_body_is_sent(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 7340032\r\n\r\n"
        )  # 7 MiB announced, nothing sent
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert server.invoke(FEATURE_LINE.encode()).status == 200


def test_a_client_still_sending_its_over_limit_body_reads_the_413(server):
    """The 413 for a declared size used to be followed by a close with the body unread:
    the kernel then resets the connection, and a client still sending (as most do) lost
    the answer (a BrokenPipe or reset instead of 413). Now the refusal lingers."""
    piece = (FEATURE_LINE + "\n").encode() * 2000  # ~180 KB
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"X-Amzn-SageMaker-Custom-Attributes: trace=7\r\n"
            b"Content-Length: 7340032\r\n\r\n" + piece
        )
        time.sleep(0.3)  # the server has answered by now; the client goes on sending
        for _ in range(4):
            raw.sendall(piece)
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"x-amzn-sagemaker-custom-attributes: trace=7" in answer.lower()
    assert b"6 MiB payload limit" in answer
    assert server.invoke(FEATURE_LINE.encode()).status == 200


def test_chunked_body_over_the_limit_is_413(server):
    def chunks():
        line = (FEATURE_LINE + "\n").encode() * 1000
        for _ in range(70):  # ~7.6 MB
            yield line

    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/invocations",
            body=chunks(),
            headers={"Content-Type": "text/csv"},
            encode_chunked=True,
        )
        assert connection.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before the whole body is sent: that is the point
    finally:
        connection.close()
    assert server.invoke(FEATURE_LINE.encode()).status == 200


def test_body_just_under_the_limit_is_scored(server):
    line = (FEATURE_LINE + "\n").encode()
    body = line * ((6 * 1024 * 1024) // len(line))
    response = server.invoke(body)
    assert response.status == 200
    assert len(response.body.splitlines()) == body.count(b"\n")


def test_endpoint_matches_bigmart_predict_exactly(server, trained_model, real_test_csv, tmp_path):
    bigmart = Path(sys.executable).with_name("bigmart")
    subprocess.run(
        [
            str(bigmart),
            "predict",
            "--model",
            str(trained_model),
            "--input",
            str(real_test_csv),
            "--output",
            str(tmp_path / "p.csv"),
        ],
        check=True,
        capture_output=True,
    )
    response = server.invoke(real_test_csv.read_bytes())  # header row included
    assert response.status == 200
    assert response.body == (tmp_path / "p.csv").read_bytes()


def test_batch_mode_payload_limit_and_execution_parameters(opt_ml, tmp_path):
    server = start_server(
        opt_ml,
        tmp_path / "serve.log",
        workers=1,
        extra_env={"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"},
    )
    try:
        parameters = json.loads(server.request("GET", "/execution-parameters").body)
        assert parameters == {
            "MaxConcurrentTransforms": 1,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": 1,
        }
        line = (FEATURE_LINE + "\n").encode()
        assert server.invoke(line * (1024 * 1024 // len(line))).status == 200
        assert server.invoke(line * (1024 * 1024 // len(line) + 1)).status == 413
    finally:
        assert server.stop() == 0
    assert "payload limit 1 MiB (batch)" in server.log()


def test_sigterm_drains_requests_in_flight_and_exits_0(opt_ml, tmp_path):
    server = start_server(opt_ml, tmp_path / "serve.log", workers=1)
    line = (FEATURE_LINE + "\n").encode()
    body = line * 50_000  # takes long enough to still be in flight at SIGTERM
    results: dict[str, object] = {}

    def call() -> None:
        results["response"] = server.invoke(body)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    code = server.process.wait(timeout=30)
    assert time.monotonic() - started < 30
    assert code == 0, server.log()
    response = results["response"]
    assert response.status == 200 and len(response.body.splitlines()) == 50_000
    with pytest.raises(OSError):
        server.request("GET", "/ping", timeout=2)


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(opt_ml, tmp_path):
    server = start_server(opt_ml, tmp_path / "serve.log", workers=2)
    try:
        deadline = time.monotonic() + 15
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # /ping answers as soon as the first worker is up
        before = server.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        for _ in range(20):
            assert server.invoke(FEATURE_LINE.encode()).status == 200
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = server.worker_pids()
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        now = server.worker_pids()
        assert len(now) == 2 and before[0] not in now and before[1] in now
        server.wait_until_healthy(PING_TIMEOUT_SECONDS)
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("damage", ["missing", "bad-json", "bad-onnx", "checksum"])
def test_a_missing_or_corrupt_model_is_refused_at_start_up(opt_ml, tmp_path, damage):
    root = tmp_path / "opt_ml"
    model = root / "model"
    shutil.copytree(opt_ml / "model", model)
    if damage == "missing":
        shutil.rmtree(model)
    elif damage == "bad-json":
        (model / "metadata.json").write_text("{")
    elif damage == "bad-onnx":
        metadata = json.loads((model / "metadata.json").read_text())
        (model / "model.onnx").write_bytes(b"not onnx")
        import hashlib

        metadata["files"]["model.onnx"] = hashlib.sha256(b"not onnx").hexdigest()
        (model / "metadata.json").write_text(json.dumps(metadata))
    else:
        (model / "featurizer.json").write_text((model / "featurizer.json").read_text() + " ")
    server = serve_process(root, tmp_path / "serve.log")
    with contextlib.suppress(ServerError):  # it exits: asserted below
        server.start()
    code = server.process.wait(timeout=30)
    assert code != 0
    log = server.log()
    errors = [line for line in log.splitlines() if "cannot load the model" in line]
    assert len(errors) == 1, log
    assert "Listening at" not in log


def _real_head(csv_path: Path, rows: int) -> bytes:
    return b"".join(csv_path.read_bytes().splitlines(keepends=True)[: rows + 1])


def test_a_utf8_bom_is_dropped_in_every_format(server, real_test_csv):
    head = _real_head(real_test_csv, 5)  # Excel's "CSV UTF-8" starts with a BOM
    expected = predictions_csv(server.invoke(head))
    assert len(expected) == 5
    lines = head.decode().splitlines()
    records = [dict(zip(lines[0].split(","), line.split(","), strict=True)) for line in lines[1:]]
    bodies = [
        (head, "text/csv"),
        (json.dumps({"instances": records}).encode(), "application/json"),
        ("\n".join(json.dumps(r) for r in records).encode(), "application/jsonlines"),
    ]
    for body, content_type in bodies:
        response = server.invoke(b"\xef\xbb\xbf" + body, content_type)
        assert predictions_csv(response) == expected, content_type


NO_COLUMN = [
    ("unknown-key", {"instances": [{"foo": 1}]}, "application/json", 1),
    (
        "lower-case",
        {"instances": [{"item_identifier": "FDW58", "item_mrp": 107.8}]},
        "application/json",
        1,
    ),
    ("second-of-a-list", [RECORD, {"id": 3}], "application/json", 2),
    ("document-as-jsonlines", {"instances": [RECORD]}, "application/jsonlines", 1),
]


@pytest.mark.parametrize(
    ("name", "body", "content_type", "row"), NO_COLUMN, ids=[c[0] for c in NO_COLUMN]
)
def test_a_record_with_no_big_mart_column_is_400_naming_the_row(
    server, name, body, content_type, row
):
    response = server.invoke(json.dumps(body).encode(), content_type)
    assert response.status == 400, response.body
    detail = json.loads(response.body)
    assert detail["row"] == row
    assert "no Big Mart column" in detail["error"] and "Item_MRP" in detail["error"]
    with_an_id = {"instances": [{**RECORD, "id": 3}]}  # unknown keys beside known: ignored
    assert server.invoke(json.dumps(with_an_id).encode(), "application/json").status == 200


def test_newline_separated_json_documents_are_scored_in_order(server):
    expected = predictions_csv(server.invoke(FEATURE_LINE.encode()))
    other = {**RECORD, "Item_MRP": "250.0"}
    alone = predictions_csv(server.invoke(json.dumps(other).encode(), "application/json"))
    body = "\n".join(  # batch transform's SplitType Line + MultiRecord with application/json
        [json.dumps(RECORD), json.dumps({"instances": [other, RECORD]}), json.dumps([other])]
    )
    response = server.invoke(body.encode(), "application/json", accept="application/json")
    assert response.status == 200, response.body
    assert json.loads(response.body)["predictions"] == pytest.approx(
        [expected[0], alone[0], expected[0], alone[0]]
    )
