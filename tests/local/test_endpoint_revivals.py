"""An endpoint whose server died is started again on its recorded config: by the invocation
that finds it dead, or by ``revive_endpoints`` (``bigmart api`` starting); a server that
answers is kept, and one whose model is gone leaves the endpoint Failed with the reason."""

from __future__ import annotations

from bigmart.model.archive import pack
from support.endpoints import LINE, deployable, kill_server


def test_an_invocation_that_finds_the_server_dead_starts_it_again(backend, trained_model):
    deployable(backend, "c", trained_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "c"})
    try:
        expected = backend.invoke_endpoint("ep", LINE)["Body"]
        dead = backend.endpoint_server("ep")
        kill_server(dead)
        assert backend.invoke_endpoint("ep", LINE)["Body"] == expected
        revived = backend.endpoint_server("ep")
        assert revived.pid != dead.pid and revived.answers()
        assert revived.port == dead.port  # its clients find it where it was
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
    finally:
        backend.delete_endpoint("ep")
    assert not revived.answers()


def test_revival_starts_the_dead_keeps_the_live_and_fails_what_cannot_start(
    backend, trained_model, tmp_path
):
    archive = pack(trained_model, tmp_path / "model.tar.gz")  # a copy that can disappear
    deployable(backend, "kept", trained_model)
    deployable(backend, "lost", archive)
    names = {"dead": "kept", "alive": "kept", "lost": "lost"}
    for name, config in names.items():
        backend.create_endpoint({"EndpointName": name, "EndpointConfigName": config})
    try:
        servers = {name: backend.endpoint_server(name) for name in names}
        kill_server(servers["dead"])
        kill_server(servers["lost"])
        archive.unlink()
        backend.revive_endpoints()
        assert backend.endpoint_server("alive") == servers["alive"]  # adopted as it is
        revived = backend.endpoint_server("dead")
        assert revived.pid != servers["dead"].pid and revived.answers()
        assert backend.invoke_endpoint("dead", LINE)["Body"]
        assert backend.describe_endpoint("dead")["EndpointStatus"] == "InService"
        lost = backend.describe_endpoint("lost")
        assert lost["EndpointStatus"] == "Failed"
        assert str(archive) in lost["FailureReason"]
        assert "could not start again" in lost["FailureReason"]
    finally:
        for name in names:
            backend.delete_endpoint(name)
