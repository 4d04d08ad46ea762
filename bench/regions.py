"""Several regions at once: one target per region, one lane of work per target.

Quotas are per account and region (15 control-plane requests/s, 5 FilterLogEvents/s, the
concurrency pool), so each region gets its own paced control plane, its own log pacer
(bench.collect) and its own concurrency plan; the cells of every region are measured at
the same time, into one results directory. A matrix without `regions` is one lane in the
region the target resolves, and its cells and records look as they always did, plus
`region`. The local target stands up one endpoint per region name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from bench.errors import InputError
from bench.matrix import Cell, Matrix
from bench.target import Target, open_target


@dataclass
class TargetSet:
    """The open targets of a run, first region first; closes them all."""

    targets: list[Target]
    listed: bool = False  # the matrix lists `regions`

    @property
    def first(self) -> Target:
        return self.targets[0]

    @property
    def region(self) -> str:
        return self.first.region

    @property
    def stage(self) -> str:
        return self.first.stage

    @property
    def endpoint_url(self) -> str | None:
        return self.first.endpoint_url if len(self.targets) == 1 else None

    def by_region(self) -> dict[str, Target]:
        return {t.region: t for t in self.targets}

    def region_of(self, cell: Cell) -> str:
        return cell.region or self.region

    def describe(self) -> dict[str, Any]:
        """The manifest's `target`: the first region's description, and with `regions`
        every region's under `target.regions`."""
        section = self.first.describe()
        if self.listed:
            section["regions"] = {t.region: t.describe() for t in self.targets}
        return section

    def refresh_local_info(self) -> None:
        for target in self.targets:
            target.refresh_local_info()

    def close(self) -> None:
        for target in self.targets:
            with contextlib.suppress(Exception):  # close every one, whatever one says
                target.close()

    def __enter__(self) -> TargetSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_targets(
    matrix: Matrix,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    stage: str | None = None,
) -> TargetSet:
    """Every region of the matrix's target (flags win over the matrix, as in open_target)."""
    regions = matrix.regions
    if regions is None:
        return TargetSet([open_target(matrix, region=region, profile=profile,
                                      endpoint_url=endpoint_url, stage=stage)])  # fmt: skip
    if region is not None:
        raise InputError(f"--region {region}: the matrix lists target.regions; edit them instead")
    opened: list[Target] = []
    try:
        for name in regions:
            target = open_target(
                matrix, region=name, profile=profile, endpoint_url=endpoint_url, stage=stage
            )
            opened.append(target)
    except BaseException:
        TargetSet(opened).close()
        raise
    return TargetSet(opened, listed=True)


@dataclass
class Lane:
    """One region's share of a run: its target, paced control plane, concurrency plan."""

    region: str
    target: Target
    cp: Any  # bench.deploy.ControlPlane, paced for this region alone
    cells: list[Cell] = field(default_factory=list)
    concurrency: Any = None  # bench.concurrency.ConcurrencyPlan
    role_arn: str | None = None
    driver: Any = None  # driver: lambda: its bench.driver.fleet.DriverFleet
    driver_name: str | None = None


def split(cells: list[Cell], targets: TargetSet) -> Iterator[tuple[Target, list[Cell]]]:
    """Each region's target with the cells measured there, in the regions' order."""
    for target in targets.targets:
        yield target, [c for c in cells if targets.region_of(c) == target.region]
