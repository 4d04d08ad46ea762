"""Fixtures for end-to-end runs: a persistent emulator the driver reaches as an
`aws`-kind endpoint (as `bench emulator` would serve it), and its credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest


def emulator_env(emulator: Any) -> dict[str, str]:
    """The environment `bench` needs to reach `emulator` through the AWS code path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=emulator.access_key_id,
        AWS_SECRET_ACCESS_KEY=emulator.secret_access_key,
        AWS_REGION=emulator.region,
        AWS_DEFAULT_REGION=emulator.region,
        AWS_EC2_METADATA_DISABLED="true",
        NO_COLOR="1",
        COLUMNS="160",
    )
    return env


def aws_matrix(emulator: Any, *, stage: str, body: str) -> str:
    """A matrix whose target is the emulator, reached as any Lambda-compatible endpoint."""
    role = f"arn:aws:iam::{emulator.account_id}:role/bench-{stage}-execution"
    return (
        f"target: {{kind: aws, stage: {stage}, endpoint_url: '{emulator.endpoint_url}', "
        f"role_arn: '{role}'}}\n{body}"
    )


def emulator_clients(emulator: Any) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id=emulator.access_key_id,
        aws_secret_access_key=emulator.secret_access_key,
        region_name=emulator.region,
    )
    return (
        session.client("lambda", endpoint_url=emulator.endpoint_url),
        session.client("logs", endpoint_url=emulator.endpoint_url),
    )


def _start(tmp_path: Path, **options: Any) -> Iterator[Any]:
    from bench.emulator.app import Emulator

    emulator = Emulator(state_dir=tmp_path / "emulator-state", **options)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    yield from _start(tmp_path)


@pytest.fixture
def quota_emulator(tmp_path: Path) -> Iterator[Any]:
    yield from _start(tmp_path, quota_mode=True)


@pytest.fixture
def aws_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = emulator_env(emulator)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class EmulatorTools:
    """The helpers above, handed to tests as a fixture (conftest is not importable)."""

    env = staticmethod(emulator_env)
    matrix = staticmethod(aws_matrix)
    clients = staticmethod(emulator_clients)


@pytest.fixture
def emu() -> type[EmulatorTools]:
    return EmulatorTools
