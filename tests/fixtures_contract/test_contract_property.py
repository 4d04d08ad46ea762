"""Any JSON at all gets an answer from the python fixture, never an exception."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.fixtures import build_artifact
from bench.matrix import Cell

from .contract import GOOD, unzip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
bench_like = st.fixed_dictionaries(
    {}, optional={"run": json_values, "cell": json_values, "round": json_values, "seq": json_values}
)
events = json_values | st.builds(lambda b: {"bench": b}, bench_like)


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cell = Cell(runtime="python3.12", memory_mb=128, architecture="x86_64", package_mb=0.0,
                package_kind="none")  # fmt: skip
    root = tmp_path_factory.mktemp("property")
    code = unzip(build_artifact(cell, root / "cache").zip_path, root / "code")
    spec = importlib.util.spec_from_file_location(
        "coldbench_fixture_under_test", code / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    before = sys.dont_write_bytecode
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before  # the fixture sets it for its own process only
    return module.handler


@settings(max_examples=300, deadline=None)
@given(event=events)
@example(event=GOOD)
def test_any_event_gets_a_result(handler: Any, event: Any) -> None:
    result = handler(event, None)
    if "error" in result:
        assert result["error_type"] == "InvalidEvent"
        assert isinstance(result["error"], str) and "\n" not in result["error"]
        assert result["error"].startswith(("event must be", "event.bench", "unexpected key"))
    else:
        # Only the bench shape passes: four keys of the right types, nothing else.
        fields = event["bench"]
        assert set(event) == {"bench"} and set(fields) == set(GOOD["bench"])
        assert isinstance(fields["run"], str) and isinstance(fields["cell"], str)
        assert result["payload"] == {"kind": "none", "bytes_loaded": 0}
