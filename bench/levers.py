"""The levers that remove cold starts, as control-plane steps of a cold round: a version
published after the bump (every new version starts cold; snapshots and provisioned
environments belong to versions, never to $LATEST), SnapStart on it, provisioned
concurrency on it. Sees a control plane and a function name, never which target it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from bench.aws_errors import code_or_type
from bench.deploy import ControlPlane, wait_settled
from bench.errors import TargetError
from bench.matrix import Cell

# AWS allocates provisioned environments in one to a few minutes; SnapStart snapshots
# take about as long. Past these the round fails with what the target last said.
PROVISIONED_READY_TIMEOUT_S = 900.0
VERSION_READY_TIMEOUT_S = 900.0


@dataclass
class PublishedRound:
    """What a cold round of a published-version cell invokes, and what it holds."""

    version: str
    qualified_name: str  # "<function>:<version>": what Invoke is given
    provisioned: bool


def enable_snapstart(cp: ControlPlane, name: str, cell_id: str) -> None:
    """SnapStart on for versions published from now on (once per cell, before round 1)."""
    cp.call(
        lambda: cp.lambda_client.update_function_configuration(
            FunctionName=name, SnapStart={"ApplyOn": "PublishedVersions"}
        ),
        "UpdateFunctionConfiguration",
        cell_id,
    )
    wait_settled(cp, name, cell_id)


def publish_round(cp: ControlPlane, cell: Cell, name: str) -> PublishedRound:
    """After the bump: publish the new configuration as a version, wait until it can be
    invoked (with SnapStart: until its snapshot is ready), and provision it if the cell
    asks for that, waiting until the environments are READY."""
    published = cp.call(
        lambda: cp.lambda_client.publish_version(FunctionName=name), "PublishVersion", cell.id
    )
    version = str(published["Version"])
    _wait_version(cp, name, version, cell)
    if cell.provisioned:
        cp.call(
            lambda: cp.lambda_client.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=version,
                ProvisionedConcurrentExecutions=cell.provisioned,
            ),
            "PutProvisionedConcurrencyConfig",
            cell.id,
        )  # fmt: skip
        _wait_provisioned(cp, name, version, cell.id)
    return PublishedRound(version, f"{name}:{version}", bool(cell.provisioned))


def release_round(cp: ControlPlane, name: str, done: PublishedRound | None, cell_id: str) -> None:
    """Stop paying for a round's provisioned environments (a missing config is fine)."""
    if done is None or not done.provisioned:
        return
    try:
        cp.call(
            lambda: cp.lambda_client.delete_provisioned_concurrency_config(
                FunctionName=name, Qualifier=done.version
            ),
            "DeleteProvisionedConcurrencyConfig",
            cell_id,
        )
    except ClientError as exc:  # a config already gone is what we wanted
        if code_or_type(exc) != "ResourceNotFoundException":
            raise


def _wait_version(cp: ControlPlane, name: str, version: str, cell: Cell) -> None:
    """Poll GetFunctionConfiguration of the version until State Active and, with
    SnapStart, OptimizationStatus On (the published_version_active waiter's test)."""
    deadline = time.monotonic() + VERSION_READY_TIMEOUT_S
    while True:
        config = cp.call(
            lambda: cp.lambda_client.get_function_configuration(
                FunctionName=name, Qualifier=version
            ),
            "GetFunctionConfiguration",
            cell.id,
        )
        state = config.get("State")
        optimized = (config.get("SnapStart") or {}).get("OptimizationStatus")
        if state == "Failed":
            reason = config.get("StateReason") or "no reason given"
            raise TargetError(f"version {version} of {name} failed: {reason}")
        if state in (None, "Active") and (cell.snapstart == "off" or optimized == "On"):
            return
        if state == "Active" and cell.snapstart == "on":
            raise TargetError(
                f"version {version} of {name} is Active without a SnapStart snapshot "
                f"(OptimizationStatus {optimized})"
            )
        if time.monotonic() > deadline:
            raise TargetError(f"version {version} of {name} still {state} after "
                              f"{VERSION_READY_TIMEOUT_S:.0f}s")  # fmt: skip
        time.sleep(cp.poll_interval_s)


def _wait_provisioned(cp: ControlPlane, name: str, version: str, cell_id: str) -> None:
    deadline = time.monotonic() + PROVISIONED_READY_TIMEOUT_S
    while True:
        config = cp.call(
            lambda: cp.lambda_client.get_provisioned_concurrency_config(
                FunctionName=name, Qualifier=version
            ),
            "GetProvisionedConcurrencyConfig",
            cell_id,
        )
        status = config.get("Status")
        if status == "READY":
            return
        if status == "FAILED":
            reason = config.get("StatusReason") or "no reason given"
            raise TargetError(f"provisioned concurrency on {name}:{version} failed: {reason}")
        if time.monotonic() > deadline:
            raise TargetError(f"provisioned concurrency on {name}:{version} still {status} "
                              f"after {PROVISIONED_READY_TIMEOUT_S:.0f}s")  # fmt: skip
        time.sleep(cp.poll_interval_s)
