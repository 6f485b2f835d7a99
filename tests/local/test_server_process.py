"""The local ``serve`` process: the model fetched and verified first, the port probed, and
the server bound to 127.0.0.1; a named container removed when it stops."""

from __future__ import annotations

import io
import os
import signal
import socket
import sys

import pytest

from bigmart.local.server_process import ModelServer, port_in_use
from support.servers import listening_addresses


def test_a_hostile_s3_model_archive_is_refused_naming_its_uri(s3, tmp_path):
    import tarfile

    from bigmart.local.server_process import materialize_model
    from bigmart.model.artifact import ArtifactError

    client, bucket = s3
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("model.onnx")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    client.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=buffer.getvalue())
    uri = f"s3://{bucket}/m/model.tar.gz"
    with pytest.raises(ArtifactError) as refused:
        materialize_model(uri, tmp_path / "model")
    assert str(refused.value).startswith(f"{uri}: member 'model.onnx' is a symlink")
    assert not (tmp_path / "model" / "model.onnx").exists()


def test_an_s3_object_larger_than_any_model_is_not_downloaded_whole(s3, tmp_path, monkeypatch):
    from bigmart.local import model_location
    from bigmart.local import server_process as model_server
    from bigmart.model.artifact import ArtifactError

    client, bucket = s3
    client.put_object(Bucket=bucket, Key="big/model.tar.gz", Body=b"\0" * (3 << 20))
    monkeypatch.setattr(model_location, "MAX_ARCHIVE_BYTES", 1 << 20)
    with pytest.raises(ArtifactError, match="larger than any model archive"):
        model_server.materialize_model(f"s3://{bucket}/big/model.tar.gz", tmp_path / "model")


def test_the_address_reader_sees_a_loopback_and_a_wildcard_listener():
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as listener:
            listener.bind((host, 0))
            listener.listen()
            assert listening_addresses(listener.getsockname()[1]) == {host}


def test_the_transform_server_listens_on_loopback_only(trained_model, tmp_path):
    from bigmart.model.artifact import rewrite_model

    rewrite_model(trained_model, tmp_path / "model")
    server = ModelServer(tmp_path, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    server.start()
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
    finally:
        server.stop()


@pytest.mark.parametrize(("taken", "probed"), [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")])
def test_the_port_probe_checks_the_address_serve_will_bind(taken, probed):
    with socket.socket() as other:
        other.bind((taken, 0))
        other.listen()
        port = other.getsockname()[1]
        assert port_in_use(port, probed)
    assert not port_in_use(port, probed)


def test_stop_removes_the_named_container_of_a_client_killed_outright(tmp_path, monkeypatch):
    from bigmart.local.engines import ServeContainer
    from support.engines import podman_calls, serving_podman

    folder, calls = serving_podman(tmp_path)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.delenv("BIGMART_ENGINE_FLAGS", raising=False)
    container = ServeContainer("podman", "bigmart-serve-1-0123abcd")
    client = [sys.executable, "-c", "import time; time.sleep(60)"]
    server = ModelServer(tmp_path, command=client, container=container)
    server.spawn()
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    assert server.stop() == -signal.SIGKILL
    assert podman_calls(calls) == [
        ["stop", "--time", "35", container.name],
        ["rm", "-f", container.name],
    ]
    assert server.container_note == ""
    monkeypatch.setenv("FAKE_PODMAN_REMOVAL", "fail")
    server.stop()
    assert server.container_note.startswith(f"container {container.name} was not removed: ")
    assert "\n" not in server.container_note
