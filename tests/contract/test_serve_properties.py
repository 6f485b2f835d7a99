"""Property-based: whatever body arrives, the endpoint answers without a 5xx and lives on."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigmart.model.artifact import rewrite_model
from bigmart.schema import FEATURES
from support.servers import start_server

CONTENT_TYPES = [
    None,
    "text/csv",
    "text/csv; charset=utf-8",
    "application/json",
    "application/jsonlines",
    "application/x-jsonlines",
    "application/xml",
    "",
    ";;;",
    "text/csv; q=x",
]
ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/jsonlines",
    "text/csv",
    "image/png",
    ",,",
    "text/csv;q=abc",
]
ALLOWED = {200, 400, 406, 413, 415}


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_model):
    root = tmp_path_factory.mktemp("prop_opt_ml")
    rewrite_model(trained_model, root / "model")
    running = start_server(root, root / "serve.log", workers=1)
    yield running
    assert running.stop() == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "NA", "inf", "-1e309", "1e309", "nan", "Low Fat", "OUT049", "1999", '"', "\r"]
)
csv_bodies = st.lists(st.lists(cells, min_size=0, max_size=14), max_size=4).map(
    lambda rows: "\n".join(",".join(row) for row in rows).encode()
)
record_bodies = st.lists(
    st.fixed_dictionaries({}, optional={name: json_values for name in FEATURES}), max_size=3
).map(lambda records: json.dumps({"instances": records}).encode())
bodies = (
    st.binary(max_size=300)
    | csv_bodies
    | record_bodies
    | json_values.map(lambda v: json.dumps(v).encode())
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES), accept=st.sampled_from(ACCEPTS))
def test_no_body_produces_a_server_error(server, body, content_type, accept):
    response = server.invoke(body, content_type, accept)
    assert response.status in ALLOWED, (response.status, response.body)
    if response.status != 200:
        assert "error" in json.loads(response.body)
