"""The matrix's `target`: the embedded local target (its eviction policy, its account's
concurrency) or an AWS account, and the `regions` both may list."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from bench.matrix_strict import Strict, StrictCount


class Halving(Strict):
    """All idle environments stay warm for `warm_s`, then half go per further `half_life_s`."""

    warm_s: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
    half_life_s: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]


class Eviction(Strict):
    """When the local target reclaims idle environments (bench.emulator.eviction): never
    unless asked, after a fixed `idle_timeout_s`, or by the halving model."""

    idle_timeout_s: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)] | None = None
    halving: Halving | None = None
    max_lifetime_s: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)] | None = None
    seed: StrictCount | None = None

    @model_validator(mode="after")
    def _one_model(self) -> Eviction:
        if self.idle_timeout_s is not None and self.halving is not None:
            raise ValueError("give idle_timeout_s or halving, not both")
        return self


_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
Regions = list[str] | None


def _check_regions(value: list[str] | None) -> list[str] | None:
    """`regions: [...]`: each a region name, none twice; cells run in all at once."""
    if value is None:
        return None
    if not value:
        raise ValueError("must list at least one region (or be removed)")
    for i, region in enumerate(value):
        if not _REGION.fullmatch(region):
            raise ValueError(f"[{i}] {region!r} is not a region name like eu-central-1")
        if region in value[:i]:
            raise ValueError(f"[{i}] {region} is listed twice")
    return value


class LocalTarget(Strict):
    kind: Literal["local"] = "local"
    # auto: cgroup CPU and memory limits when the host allows them, otherwise unthrottled.
    cpu_limits: Literal["auto", "on", "off"] = "auto"
    quota_mode: bool = False
    # Where sandboxes cannot be isolated (no bubblewrap or user namespaces), run packages
    # with third-party code (requirements) anyway; generated fixtures always run.
    allow_unisolated: bool = False
    # The local account's concurrent executions (a fresh AWS account has 1,000; new ones
    # are often given 10): bursts wider than its unreserved pool are refused before deploying.
    account_concurrency: StrictCount | None = Field(default=None, ge=1, le=100_000)
    eviction: Eviction = Eviction()
    # One endpoint per region name, all measured at once (bench.regions).
    regions: Regions = None
    # client: bursts fired from this machine; lambda: from a driver function in the region.
    driver: Literal["client", "lambda"] = "client"

    _regions = field_validator("regions")(classmethod(lambda cls, v: _check_regions(v)))


class AwsTarget(Strict):
    kind: Literal["aws"]
    region: str | None = None
    profile: str | None = None
    stage: str = "dev"
    endpoint_url: str | None = None
    role_arn: str | None = None
    artifact_bucket: str | None = None
    regions: Regions = None
    driver: Literal["client", "lambda"] = "client"
    # The driver function's role (driver: lambda) when the harness may not manage IAM.
    driver_role_arn: str | None = None

    _regions = field_validator("regions")(classmethod(lambda cls, v: _check_regions(v)))

    @model_validator(mode="after")
    def _one_way_to_say_region(self) -> AwsTarget:
        if self.regions is not None and self.region is not None:
            raise ValueError("give region or regions, not both")
        return self

    @field_validator("stage")
    @classmethod
    def _stage_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,15}", value):
            raise ValueError("must be 1 to 16 characters of a-z, 0-9 and '-'")
        return value


Target = Annotated[LocalTarget | AwsTarget, Field(discriminator="kind")]
