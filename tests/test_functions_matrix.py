"""The matrix's `functions:`: strict entries, readable cell ids, fixture ids unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.errors import InputError
from bench.matrix import parse_matrix

FIXTURES = {"name": "m", "runtimes": ["python3.12"], "memory_mb": [128, 512]}


@pytest.fixture
def fn_dir(tmp_path: Path) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(e, c):\n    return e\n")
    (tmp_path / "ev.json").write_text(json.dumps({"a": 1}))
    return tmp_path


def _parse(base: Path, **data: Any) -> Any:
    return parse_matrix(data, "m.yaml", base_dir=base)


def _entry(**extra: Any) -> dict[str, Any]:
    return {"name": "orders", "code": "fn", "handler": "app.handler", "runtime": "python3.12",
            **extra}  # fmt: skip


def test_functions_cross_memory_and_architectures_beside_the_fixtures(fn_dir: Path) -> None:
    alone = [c.id for c in _parse(fn_dir, **FIXTURES).cells()]
    crossed = _entry(name="api", runtime=None, runtimes=["python3.12", "nodejs22.x"])
    matrix = _parse(
        fn_dir, **FIXTURES, architectures=["x86_64", "arm64"], functions=[_entry(), crossed]
    )
    ids = [c.id for c in matrix.cells()]
    # Existing fixture cell ids do not change when functions are added beside them.
    assert ids[: len(alone) * 2] == [c.id for c in _parse(
        fn_dir, **FIXTURES, architectures=["x86_64", "arm64"]).cells()]  # fmt: skip
    assert alone == ["python3.12-128mb-x86_64-none", "python3.12-512mb-x86_64-none"]
    assert "orders-128mb-x86_64" in ids and "orders-512mb-arm64" in ids
    assert "api-nodejs22.x-512mb-arm64" in ids and "api-python3.12-128mb-x86_64" in ids
    assert len([i for i in ids if i.startswith(("orders-", "api-"))]) == 2 * 2 + 2 * 2 * 2
    cell = next(c for c in matrix.cells() if c.id == "orders-128mb-x86_64")
    assert cell.function == "orders" and cell.package_kind == "function"


def test_functions_instead_of_fixture_axes(fn_dir: Path) -> None:
    matrix = _parse(fn_dir, name="m", memory_mb=[256], functions=[_entry(event="ev.json")])
    assert [c.id for c in matrix.cells()] == ["orders-256mb-x86_64"]
    # Paths are read relative to the matrix file and kept resolved.
    assert matrix.functions[0].event == str(fn_dir / "ev.json")
    assert matrix.functions[0].code == str(fn_dir / "fn")


def test_exclude_names_a_function(fn_dir: Path) -> None:
    matrix = _parse(fn_dir, **FIXTURES, functions=[_entry()],
                    exclude=[{"function": "orders", "memory_mb": 512}])  # fmt: skip
    assert "orders-512mb-x86_64" not in [c.id for c in matrix.cells()]
    with pytest.raises(InputError, match=r"exclude\[0\]\.function: 'nope' is not in functions"):
        _parse(fn_dir, **FIXTURES, functions=[_entry()], exclude=[{"function": "nope"}])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"handler": None}, r"functions\[0\]: handler is required with code"),
        ({"runtime": None}, r"functions\[0\]: runtime \(or runtimes\) is required"),
        ({"code": "missing"}, r"functions\[0\]\.code: missing: no such file or directory"),
        ({"event": "nope.json"}, r"functions\[0\]\.event: nope.json: no such file"),
        ({"event": ["ev.json", "bad.json"]}, r"functions\[0\]\.event\[1\]: bad.json: not a JSON"),
        (
            {"layers": ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]},
            r"functions\[0\]\.layers: layers are AWS only; the local target cannot run them",
        ),
        (
            {"from": "arn:aws:lambda:us-east-1:123456789012:function:f"},
            r"give exactly one of code or from",
        ),
        ({"invoke_via": "http"}, r"functions\[0\]\.invoke_via"),
        ({"name": "Orders!"}, r"functions\[0\]\.name"),
        ({"timeout_s": 0}, r"functions\[0\]\.timeout_s"),
    ],
)
def test_a_bad_function_entry_is_one_clear_error(
    fn_dir: Path, entry: dict[str, Any], message: str
) -> None:
    (fn_dir / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match=message):
        _parse(fn_dir, name="m", memory_mb=[128], functions=[_entry(**entry)])


def test_layers_are_accepted_on_aws(fn_dir: Path) -> None:
    layer = "arn:aws:lambda:us-east-1:123456789012:layer:x:1"
    matrix = _parse(fn_dir, name="m", memory_mb=[128], target={"kind": "aws"},
                    functions=[_entry(layers=[layer], timeout_s=9)])  # fmt: skip
    assert matrix.functions[0].layers == [layer]
    assert matrix.timeout_of(matrix.cells()[0]) == 9


def test_from_takes_an_arn_and_nothing_the_original_decides(fn_dir: Path) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-prod:live"
    matrix = _parse(fn_dir, name="m", memory_mb=[128], functions=[{"name": "orders", "from": arn}])
    assert matrix.functions[0].from_ == arn
    assert matrix.model_dump(mode="json")["functions"][0]["from"] == arn
    assert [c.id for c in matrix.cells()] == ["orders-128mb-x86_64"]
    with pytest.raises(InputError, match="from: takes handler from the deployed function"):
        _parse(fn_dir, name="m", memory_mb=[128],
               functions=[{"name": "o", "from": arn, "handler": "a.b"}])  # fmt: skip
    with pytest.raises(InputError, match="from: expected arn:aws:lambda"):
        _parse(fn_dir, name="m", memory_mb=[128], functions=[{"name": "o", "from": "orders"}])


def test_a_matrix_with_neither_runtimes_nor_functions_is_refused(fn_dir: Path) -> None:
    with pytest.raises(InputError, match="runtimes: must list at least one runtime"):
        _parse(fn_dir, name="m", memory_mb=[128])


def test_the_dumped_matrix_loads_again_unchanged(fn_dir: Path) -> None:
    matrix = _parse(fn_dir, name="m", memory_mb=[128], functions=[_entry(event=["ev.json"])])
    again = parse_matrix(matrix.model_dump(mode="json"))
    assert again == matrix


def test_the_worst_case_uses_a_functions_own_timeout(fn_dir: Path) -> None:
    from bench.cost import estimate_cell

    matrix = _parse(fn_dir, name="m", memory_mb=[1024], timeout_s=30, cold_starts=1, burst=1,
                    warm_invocations=1, functions=[_entry(timeout_s=3)])  # fmt: skip
    (cell,) = matrix.cells()
    # One cold start (10 s init limit + 3 s) and one warm (3 s) at 1 GB: 16 GB-s.
    assert estimate_cell(cell, matrix).worst_gb_s == pytest.approx(16.0)


def test_a_resolved_clone_is_recorded_as_written_so_a_resume_reads_it_again(
    fn_dir: Path,
) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-prod"
    written = _parse(fn_dir, name="m", memory_mb=[128], functions=[{"name": "o", "from": arn}])
    entry = written.functions[0]
    resolved = written.model_copy(update={"functions": [entry.model_copy(update={
        "code": str(fn_dir / "fn"), "runtime": "python3.12", "handler": "app.handler",
        "cloned": {"entry": entry.model_dump(mode="json"), "arn": arn, "memory_mb": 256},
    })]})  # fmt: skip
    assert resolved.dump_as_given() == written.model_dump(mode="json")
    assert parse_matrix(resolved.dump_as_given()) == written
    assert resolved.clones() == {"o": {"arn": arn, "memory_mb": 256}}
    assert written.clones() == {}
    with pytest.raises(InputError, match="read from the deployed function"):
        _parse(fn_dir, name="m", memory_mb=[128],
               functions=[{"name": "o", "from": arn, "cloned": {"arn": arn}}])  # fmt: skip


def test_a_clone_has_no_package_before_a_run(bench_cli: Any, workdir: Path) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:x"
    (workdir / "c.yaml").write_text(f"name: c\nmemory_mb: [128]\nfunctions:\n"
                                    f"  - name: o\n    from: {arn}\n")  # fmt: skip
    result = bench_cli("fixtures", "build", "c.yaml")
    assert result.exit_code == 2, result.output
    assert f"functions o: from {arn} is read from the target when a run starts" in result.output
