"""`bench run` refuses bad input before any target is opened (so nothing is created)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

import bench.run

GOOD = """\
name: tiny
runtimes: [python3.12]
memory_mb: [128]
cold_starts: 2
burst: 2
warm_invocations: 1
budget_usd: {budget}
"""


class TargetOpened(Exception):
    pass


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to open a target, recorded; the attempt itself stops the run."""
    calls: list[Any] = []

    def spy(matrix: Any, **kwargs: Any) -> Any:
        calls.append(matrix)
        raise TargetOpened

    monkeypatch.setattr(bench.run, "open_targets", spy)
    return calls


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.format(budget=1) + "colds: 3\n", "colds: unknown key"),
        (GOOD.format(budget=1).replace("[128]", "[128, 100]"), "memory_mb[1]: 100 is below"),
        (GOOD.format(budget=1).replace("python3.12", "python2.7"), "runtimes[0]: unknown runtime"),
    ],
)
def test_bad_matrix_exits_2_naming_file_and_field(
    workdir: Path,
    bench_cli: Callable[..., Result],
    opened: list[Any],
    text: str,
    field: str,
) -> None:
    (workdir / "bad.yaml").write_text(text)
    result = bench_cli("run", "bad.yaml")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "bad.yaml" in lines[0] and field in lines[0]
    assert "Traceback" not in result.output
    assert opened == []
    assert list((workdir / "results").iterdir()) == []


def test_over_budget_is_refused_before_anything_is_created(
    workdir: Path, bench_cli: Callable[..., Result], opened: list[Any]
) -> None:
    (workdir / "m.yaml").write_text(GOOD.format(budget="0.0000000001"))
    result = bench_cli("run", "m.yaml")
    assert result.exit_code == 2, result.output
    assert "budget" in result.output.lower()
    assert opened == []
    assert list((workdir / "results").iterdir()) == []


def test_accept_cost_goes_past_the_budget_guard(
    workdir: Path, opened: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "m.yaml").write_text(GOOD.format(budget="0.0000000001"))
    options = bench.run.RunOptions(matrix_path=Path("m.yaml"), accept_cost=True)
    with pytest.raises(TargetOpened):
        bench.run.run_matrix(options, console=None)
    assert len(opened) == 1 and opened[0].name == "tiny"


def test_unknown_strategy_is_an_input_error(workdir: Path, opened: list[Any]) -> None:
    from bench.errors import InputError

    (workdir / "m.yaml").write_text(GOOD.format(budget=1))
    options = bench.run.RunOptions(matrix_path=Path("m.yaml"), strategy="zigzag")
    with pytest.raises(InputError, match="--strategy"):
        bench.run.run_matrix(options, console=None)
    assert opened == []


def test_the_driver_never_branches_on_the_target_kind() -> None:
    """run, deploy, burst and logs see clients and numbers, never which target it is."""
    import ast

    root = Path(bench.run.__file__).parent
    for module in (
        "run", "run_lanes", "run_inputs", "measure", "recording", "collect", "deploy", "burst",
        "logs", "cloudwatch", "classify",
    ):  # fmt: skip
        tree = ast.parse((root / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "kind":
                owner = ast.unparse(node.value)
                assert "target" not in owner.lower(), f"{module}.py reads {owner}.kind"
            if isinstance(node, ast.Constant) and node.value in ("local", "aws"):
                raise AssertionError(f"{module}.py mentions the target kind {node.value!r}")
            if isinstance(node, ast.ImportFrom) and node.module == "bench.matrix":
                names = {alias.name for alias in node.names}
                assert not names & {"LocalTarget", "AwsTarget"}, f"{module}.py imports {names}"


def test_resume_stops_at_a_corrupt_middle_line_and_changes_nothing(
    workdir: Path, bench_cli: Callable[..., Result], opened: list[Any]
) -> None:
    """A corrupt record in the middle is never dropped and the file never rewritten."""
    from bench.matrix import load_matrix
    from bench.results import RunWriter, new_manifest, utc_timestamp
    from tests.synthetic import SyntheticRun, invocations_frame, records_of

    (workdir / "m.yaml").write_text(GOOD.format(budget=1))
    matrix = load_matrix(workdir / "m.yaml")
    spec = SyntheticRun(name="tiny", cells=matrix.cells(), cold=4, warm=0, burst=2)
    with RunWriter.create(workdir / "results", spec.id()) as writer:
        writer.write_manifest(new_manifest(
            run_id=spec.id(), tool_version="0.1.0", matrix=matrix.model_dump(mode="json"),
            target={"kind": "local"}, started=utc_timestamp(), cost={},
        ))  # fmt: skip
        writer.append_invocations(records_of(invocations_frame(spec)))
    path = workdir / "results" / spec.id() / "invocations.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"  # a record cut in the middle of the file
    path.write_text("".join(lines))
    before = path.read_bytes()
    result = bench_cli("run", "m.yaml", "--resume", spec.id())
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1, message
    assert f"--resume {spec.id()}: results/{spec.id()}/invocations.jsonl:3: not valid JSON" \
        in message
    assert "nothing was changed" in message
    assert path.read_bytes() == before
    assert opened == []
