"""Targets: the local emulator and the AWS path (moto), seen only through clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from bench.errors import InputError
from bench.matrix import parse_matrix
from bench.target import open_local_target, open_target
from bench.target_aws import open_aws_target

moto = pytest.importorskip("moto")


def _matrix(target: dict) -> object:
    return parse_matrix(
        {
            "name": "t",
            "target": target,
            "runtimes": ["python3.12"],
            "memory_mb": [128],
            "cold_starts": 5,
            "burst": 5,
            "timeout_s": 42,
        }
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    config = tmp_path / "config"
    config.write_text(
        "[profile other]\nregion = ap-south-1\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with moto.mock_aws():
        yield


def test_local_target_serves_lambda_and_logs_on_loopback() -> None:
    matrix = _matrix({"kind": "local"})
    with open_target(matrix) as target:
        assert target.kind == "local"
        assert target.endpoint_url.startswith("http://127.0.0.1:")
        assert target.lambda_client(5).list_functions()["Functions"] == []
        assert target.logs_client().describe_log_groups()["logGroups"] == []
        assert target.iam_client() is None  # the role is given: IAM is never touched
        assert target.role_arn.startswith(f"arn:aws:iam::{target.account_id}:role/")
        assert target.parallel_cells == 1
        assert target.default_logs_timeout_s == 60
        described = target.describe()
        assert described["kind"] == "local" and described["endpoint_url"] == target.endpoint_url
        assert described["local"]["host_cpus"] >= 1
        assert "cpu_limits" in described["local"]
        client = target.lambda_client(5)
    with pytest.raises(EndpointConnectionError):
        client.list_functions()  # closed: the emulator is gone


def test_invoke_client_never_retries_and_has_room_for_a_burst() -> None:
    with open_local_target(function_timeout_s=42) as target:
        config = target.lambda_client(max_pool=50).meta.config
        assert config.retries["total_max_attempts"] == 1
        assert config.read_timeout > 42
        assert config.max_pool_connections >= 50
        control = target.control_client().meta.config
        assert control.retries["mode"] == "standard"


def test_aws_target_region_flag_beats_matrix_beats_environment(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    matrix = _matrix({"kind": "aws", "region": "eu-west-1", "stage": "ci"})
    with open_target(matrix, region="eu-north-1") as target:
        assert target.region == "eu-north-1"
    with open_target(matrix) as target:
        assert target.region == "eu-west-1"
        assert target.account_id == "123456789012"  # moto's STS answer
        assert target.stage == "ci" and target.kind == "aws"
        assert target.parallel_cells > 1 and target.default_logs_timeout_s == 900
        assert target.iam_client() is not None  # no role_arn: the harness manages one
        assert target.describe()["local"] is None
    with open_target(_matrix({"kind": "aws"})) as target:
        assert target.region == "us-west-2"


def test_aws_target_profile_supplies_the_region(aws_env: None) -> None:
    with open_target(_matrix({"kind": "aws"}), profile="other") as target:
        assert target.region == "ap-south-1"


def test_aws_target_without_any_region_is_an_input_error(aws_env: None) -> None:
    with pytest.raises(InputError, match="region"):
        open_target(_matrix({"kind": "aws"}))


def test_stage_flag_overrides_the_matrix(aws_env: None) -> None:
    matrix = _matrix({"kind": "aws", "region": "eu-west-1", "stage": "ci"})
    with open_target(matrix, stage="nightly") as target:
        assert target.stage == "nightly"


def test_endpoint_without_sts_takes_the_account_from_the_role(aws_env: None) -> None:
    # The emulator speaks Lambda and Logs only: STS fails there, the role names the account.
    with open_local_target() as local:
        role = "arn:aws:iam::210987654321:role/bench-ci-execution"
        with open_aws_target(
            region=local.region,
            endpoint_url=local.endpoint_url,
            stage="ci",
            role_arn=role,
        ) as target:
            assert target.account_id == "210987654321"
            assert target.iam_client() is None


def test_an_endpoint_on_this_host_measures_one_cell_at_a_time(aws_env: None) -> None:
    # Sandboxes behind a loopback endpoint share this host's CPUs, whatever the kind.
    with open_local_target() as local:
        role = "arn:aws:iam::210987654321:role/bench-ci-execution"
        with open_aws_target(
            region=local.region, endpoint_url=local.endpoint_url, role_arn=role
        ) as target:
            assert target.parallel_cells == 1


def test_the_local_targets_own_errors_reach_the_harness_as_its_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoint raises EmulatorError and knows nothing of the harness; where the
    harness starts it, that becomes a TargetError (exit 3), a bad option an InputError."""
    from bench.emulator.app import Emulator
    from bench.emulator.errors import EmulatorConfigError, EmulatorError
    from bench.errors import InputError, TargetError
    from bench.target import local_target_errors, open_local_target

    def cannot_start(self: Any) -> None:
        raise EmulatorError("the local Lambda could not start: port in use")

    monkeypatch.setattr(Emulator, "start", cannot_start)
    with pytest.raises(TargetError, match="could not start: port in use") as caught:
        open_local_target(stage="t")
    assert isinstance(caught.value.__cause__, EmulatorError)
    with pytest.raises(InputError, match="--fault 'x'"), local_target_errors():
        raise EmulatorConfigError("--fault 'x': what to fail")


def test_the_emulator_imports_nothing_of_the_harness() -> None:
    """Its errors included: only the facts about Lambda are shared (bench.lambda_limits)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "bench" / "emulator"
    allowed = ("bench.emulator", "bench.lambda_limits")
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                harness = name == "bench" or name.startswith("bench.")
                assert not harness or name.startswith(allowed), (
                    f"{path.relative_to(root)} imports {name}"
                )


def test_bench_emulator_with_a_bad_fault_is_one_line_exit_2(bench_cli: Any) -> None:
    result = bench_cli("emulator", "--fault", "Invoke:nonsense")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("bench: error: --fault 'Invoke:nonsense'")
    assert len(result.output.strip().splitlines()) == 1
