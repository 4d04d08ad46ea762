"""The runtime table: AWS's dates decide what a matrix may name, and which wheels fit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

from bench.errors import EXIT_INPUT, InputError
from bench.matrix import parse_matrix
from bench.runtimes import creatable, deprecation_warning, refusal, wheel_platforms


def matrix(*runtimes: str) -> dict[str, object]:
    return {"name": "t", "runtimes": list(runtimes), "memory_mb": [128], "cold_starts": 2,
            "burst": 1}


def test_nodejs20_is_creatable_until_its_block_date_and_refused_from_it() -> None:
    before, blocked = date(2026, 8, 30), date(2026, 8, 31)
    assert parse_matrix(matrix("nodejs20.x"), "m.yaml", today=before).runtimes == ["nodejs20.x"]
    with pytest.raises(InputError) as info:
        parse_matrix(matrix("nodejs22.x", "nodejs20.x"), "m.yaml", today=blocked)
    assert str(info.value) == (
        "m.yaml: runtimes[1]: nodejs20.x: AWS blocks creating functions on it since 2026-08-31 "
        "(end of support 2026-04-30); use nodejs22.x"
    )
    assert "nodejs20.x" in creatable(before) and "nodejs20.x" not in creatable(blocked)


def test_unknown_runtime_lists_only_creatable_ones() -> None:
    why = refusal("cobol9", date(2026, 11, 30))
    assert why is not None and why.startswith("unknown runtime 'cobol9'; allowed: python3.10,")
    assert "nodejs20.x" not in why


def test_deprecated_but_creatable_runtime_warns_with_the_replacement() -> None:
    assert deprecation_warning("python3.12", date(2026, 11, 30)) is None
    warning = deprecation_warning("python3.10", date(2026, 11, 30))
    assert warning == (
        "python3.10 reached end of support on 2026-10-31; AWS may block creating functions on "
        "it at any time: move to python3.13"
    )


def test_amazon_linux_2023_runtimes_take_newer_wheels_than_amazon_linux_2() -> None:
    assert wheel_platforms("python3.12", "x86_64") == [
        "manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64",
    ]
    assert wheel_platforms("python3.11", "arm64") == ["manylinux2014_aarch64"]


def test_a_matrix_with_nodejs20_exits_2_at_load(
    tmp_path: Path, bench_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(matrix("nodejs20.x")))
    for command in (["estimate", str(path)], ["run", str(path)]):
        result = bench_cli(*command)
        assert result.exit_code == EXIT_INPUT, result.output
        assert "nodejs20.x: AWS blocks creating functions on it since 2026-08-31" in result.output
        assert "use nodejs22.x" in result.output


def test_the_local_target_refuses_creating_a_nodejs20_function_as_aws_does() -> None:
    from botocore.exceptions import ClientError

    from bench.target import open_local_target

    with open_local_target() as target:
        client = target.control_client()
        with pytest.raises(ClientError) as info:
            client.create_function(
                FunctionName="old-node", Runtime="nodejs20.x", Role=str(target.role_arn),
                Handler="index.handler", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
            )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith(
        "The runtime parameter of nodejs20.x is no longer supported for creating or updating"
    )
