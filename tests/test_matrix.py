"""The matrix contract: strict loading, one-line errors naming file and field, cell expansion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import EXIT_INPUT, InputError
from bench.matrix import (
    SUPPORTED_RUNTIMES,
    AwsTarget,
    Cell,
    load_matrix,
    parse_matrix,
    runtime_family,
)

REPO = Path(__file__).resolve().parents[1]


def base(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "runtimes": ["python3.12"], "memory_mb": [128],
                            "cold_starts": 4, "burst": 2}
    data.update(overrides)
    return data


def error_of(data: Any) -> str:
    with pytest.raises(InputError) as info:
        parse_matrix(data, "m.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("m.yaml: ")
    return message


def test_demo_matrix_loads() -> None:
    matrix = load_matrix(REPO / "matrix.yaml")
    ids = [c.id for c in matrix.cells()]
    assert ids and len(ids) == len(set(ids))
    assert matrix.target.kind == "local"
    assert matrix.stage == "local"


def test_defaults_and_aws_target() -> None:
    matrix = parse_matrix(base(target={"kind": "aws", "region": "eu-central-1",
                                       "stage": "nightly"}))
    assert isinstance(matrix.target, AwsTarget)
    assert matrix.stage == "nightly"
    assert (matrix.cold_starts, matrix.warm_invocations, matrix.timeout_s) == (4, 20, 30)
    assert matrix.architectures == ["x86_64"]
    assert matrix.proactive_threshold_ms == 1000.0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"memroy_mb": [128]}, "m.yaml: memroy_mb: unknown key"),
        ({"memory_mb": [128, 100]}, "m.yaml: memory_mb[1]: 100 is below the Lambda minimum of 128"),
        ({"memory_mb": [20_000]}, "memory_mb[0]: 20000 is above the Lambda maximum of 10240"),
        ({"memory_mb": [128, 128]}, "memory_mb[1]: 128 is listed twice"),
        ({"memory_mb": ["256"]}, "memory_mb[0]: Input should be a valid integer"),
        ({"memory_mb": []}, "memory_mb: must list at least one memory size"),
        ({"runtimes": ["python3.12", "cobol9"]}, "runtimes[1]: unknown runtime 'cobol9'"),
        ({"runtimes": ["nodejs18.x"]}, "runtimes[0]: nodejs18.x is deprecated"),
        (
            {"runtimes": ["python3.12", "nodejs20.x"]},
            "m.yaml: runtimes[1]: nodejs20.x: AWS blocks creating functions on it since "
            "2026-08-31 (end of support 2026-04-30); use nodejs22.x",
        ),
        ({"runtimes": ["python3.12", "python3.12"]}, "runtimes: lists a runtime twice"),
        ({"architectures": ["arm64", "arm64"]}, "architectures[1]: arm64 is listed twice"),
        ({"architectures": ["x86"]}, "architectures[0]: Input should be 'x86_64' or 'arm64'"),
        ({"cold_starts": True}, "cold_starts: Input should be a valid integer"),
        ({"cold_starts": 2, "burst": 3}, "m.yaml: burst (3) exceeds cold_starts (2)"),
        ({"timeout_s": 901}, "timeout_s: Input should be less than or equal to 900"),
        ({"budget_usd": float("inf")}, "budget_usd: Input should be a finite number"),
        ({"budget_usd": -1}, "budget_usd: Input should be greater than or equal to 0"),
        ({"package": {"size_mb": [300]}}, "package.size_mb[0]: Input should be less than or"),
        ({"package": {"kind": ["mystery"]}}, "package.kind[0]: Input should be 'inert'"),
        ({"package": {"colour": "red"}}, "package.colour: unknown key"),
        ({"package": {"requirements": {"python": []}}},
         "package.requirements: python must list at least one package"),
        ({"package": {"requirements": {"nodejs": ["left-pad"]}}},
         "package.requirements.nodejs has no nodejs runtime to use it"),
        ({"target": {"kind": "aws", "stage": "Prod"}}, "target.stage: must be 1 to 16"),
        ({"target": {"kind": "aws", "regoin": "x"}}, "target.regoin: unknown key"),
        ({"target": {"kind": "gcp"}}, "target: Input tag 'gcp'"),
        ({"exclude": [{}]}, "exclude[0]: empty, so it would exclude every cell"),
        ({"exclude": [{"runtime": "nodejs22"}]},
         "exclude[0].runtime: 'nodejs22' is not in runtimes"),
        ({"exclude": [{"memory_mb": 999}]}, "exclude[0].memory_mb: 999 is not in memory_mb"),
        ({"exclude": [{"runtme": "python3.12"}]}, "exclude[0].runtme: unknown key"),
        ({"exclude": [{"runtime": "python3.12"}]}, "exclude removes every cell"),
        ({"name": "has space"}, "name: String should match pattern"),
        ({"schema_version": 2}, "schema_version: Input should be 1"),
    ],
)
def test_errors_name_the_field(overrides: dict[str, Any], expected: str) -> None:
    assert expected in error_of(base(**overrides))


def test_several_errors_are_counted() -> None:
    message = error_of(base(memory_mb=[100], timeout_s=0, cold_starts=0))
    assert "(and 2 more)" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping at the top level"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("name: t\nruntimes: [python3.12\n", r"m\.yaml: line 3: not valid YAML"),
        ("name: t\n\tmemory_mb: 1\n", r"m\.yaml: line 2: not valid YAML"),
    ],
)
def test_load_matrix_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=expected) as info:
        load_matrix(path)
    assert str(path) in str(info.value)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the matrix"):
        load_matrix(tmp_path / "absent.yaml")


def test_expansion_with_zero_size_and_exclude() -> None:
    matrix = parse_matrix(base(
        runtimes=["python3.12", "nodejs22.x"], memory_mb=[128, 512],
        architectures=["x86_64", "arm64"],
        package={"size_mb": [0, 5], "kind": ["inert", "imported"]},
        exclude=[{"runtime": "nodejs22.x", "memory_mb": 512},
                 {"package_kind": "imported", "architecture": "arm64"}],
    ))
    ids = [c.id for c in matrix.cells()]
    assert len(ids) == len(set(ids))
    # 2 runtimes x 2 memory x 2 arch x (none, inert-5, imported-5) = 24, less 6 for node at
    # 512 MB, less 4 imported arm64 cells (1 of them already gone with node at 512).
    assert len(ids) == 24 - 6 - 3
    assert "python3.12-128mb-x86_64-none" in ids
    assert "python3.12-512mb-arm64-inert-5mb" in ids
    assert "python3.12-512mb-arm64-imported-5mb" not in ids
    assert not any(i.startswith("nodejs22.x-512mb") for i in ids)
    assert not any(i.endswith("-none") and "inert" in i for i in ids)


def test_requirements_cells() -> None:
    matrix = parse_matrix(base(runtimes=["python3.12", "nodejs22.x"],
                               package={"requirements": {"python": ["requests==2.32.3"]}}))
    cells = matrix.cells()
    req = [c for c in cells if c.package_kind == "requirements"]
    assert [c.runtime for c in req] == ["python3.12"]
    assert req[0].requirements == ("requests==2.32.3",)
    assert req[0].id.startswith("python3.12-128mb-x86_64-req-")
    other = parse_matrix(base(package={"requirements": {"python": ["six"]}})).cells()
    assert [c.id for c in other if c.package_kind == "requirements"] != [req[0].id]


def test_code_key_ignores_memory_and_usually_architecture() -> None:
    a = Cell(runtime="python3.12", memory_mb=128, architecture="x86_64", package_mb=5.0,
             package_kind="inert")
    b = a.model_copy(update={"memory_mb": 1024, "architecture": "arm64"})
    assert a.code_key == b.code_key
    r1 = Cell(runtime="python3.12", memory_mb=128, architecture="x86_64", package_mb=0.0,
              package_kind="requirements", requirements=("numpy",))
    r2 = r1.model_copy(update={"architecture": "arm64"})
    assert r1.code_key != r2.code_key  # native wheels differ per architecture


def test_runtime_family() -> None:
    assert [runtime_family(r) for r in ("python3.12", "nodejs22.x", "java21")] == [
        "python", "nodejs", "java"]
    with pytest.raises(ValueError):
        runtime_family("3.12")


def test_resolved_matrix_round_trips_through_json() -> None:
    matrix = load_matrix(REPO / "matrix.yaml")
    again = parse_matrix(matrix.model_dump(mode="json"), "manifest")
    assert again == matrix
    assert [c.id for c in again.cells()] == [c.id for c in matrix.cells()]


def test_bench_estimate_rejects_a_bad_matrix_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(base(runtimes=["python3.12"], memory_mb=[100])))
    result = CliRunner().invoke(app, ["estimate", str(path)])
    assert result.exit_code == EXIT_INPUT
    assert "Traceback" not in result.output
    assert f"{path}: memory_mb[0]: 100 is below the Lambda minimum of 128" in result.output


# -- properties ---------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from([
    "name", "target", "runtimes", "memory_mb", "architectures", "package", "cold_starts",
    "burst", "warm_invocations", "timeout_s", "budget_usd", "exclude", "strategy", "bogus",
])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSONISH, max_size=8))
def test_any_input_gives_a_matrix_or_one_line_input_error(data: dict[str, Any]) -> None:
    merged = {**base(), **data}
    try:
        matrix = parse_matrix(merged, "m.yaml")
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m.yaml: ")
        return
    ids = [c.id for c in matrix.cells()]
    assert ids and len(ids) == len(set(ids))


@settings(max_examples=150, deadline=None)
@given(
    runtimes=st.lists(st.sampled_from(sorted(SUPPORTED_RUNTIMES)), min_size=1, max_size=3,
                      unique=True),
    memory=st.lists(st.integers(128, 10_240), min_size=1, max_size=3, unique=True),
    archs=st.lists(st.sampled_from(["x86_64", "arm64"]), min_size=1, unique=True),
    sizes=st.lists(st.sampled_from([0, 0.5, 5, 20]), min_size=1, max_size=3, unique=True),
    kinds=st.lists(st.sampled_from(["inert", "imported"]), min_size=1, unique=True),
)
def test_cell_count_is_the_product(
    runtimes: list[str], memory: list[int], archs: list[str], sizes: list[float],
    kinds: list[str],
) -> None:
    matrix = parse_matrix(base(runtimes=runtimes, memory_mb=memory, architectures=archs,
                               package={"size_mb": sizes, "kind": kinds}))
    packages = sum(1 if s == 0 else len(kinds) for s in sizes)
    cells = matrix.cells()
    assert len(cells) == len(runtimes) * len(memory) * len(archs) * packages
    assert len({c.id for c in cells}) == len(cells)


@pytest.mark.parametrize(("text", "expected"), [("auto", "auto"), ("on", "on"), ("off", "off"),
                                                ("'on'", "on")])  # fmt: skip
def test_reserve_reads_on_and_off_as_words_though_yaml_reads_them_as_booleans(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(base()) + f"reserve: {text}\n")
    assert load_matrix(path).reserve == expected
    assert parse_matrix(base()).reserve == "auto"
    assert "reserve: Input should be 'auto', 'on' or 'off'" in error_of(base(reserve="maybe"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # memory_mb is required: its typo once read "memory_mb: Field required (and 1 more)"
        ({"name": "t", "runtimes": ["python3.12"], "memroy_mb": [128]},
         "m.yaml: memroy_mb: unknown key (did you mean memory_mb?)"),
        ({"name": "t", "runtimse": ["python3.12"], "memory_mb": [128]},
         "m.yaml: runtimse: unknown key (did you mean runtimes?)"),
        (base(package={"size_mbb": [1]}), "package.size_mbb: unknown key (did you mean size_mb?)"),
        (base(target={"kind": "aws", "regoin": "x"}),
         "target.regoin: unknown key (did you mean region?)"),
        (base(colour="red"), "colour: unknown key (check the spelling"),
    ],
)
def test_a_misspelled_key_is_named_with_a_guess(data: dict[str, Any], expected: str) -> None:
    message = error_of(data)
    assert expected in message
    assert "Field required" not in message
