"""A cell: one point of an expanded matrix (runtime, memory, architecture, package,
levers, region), its stable id and what decides its deployment package."""

from __future__ import annotations

import hashlib
from typing import Literal

from bench.matrix_strict import Snapstart, Strict
from bench.runtimes import runtime_family

PackageKind = Literal["none", "inert", "imported", "requirements", "function"]


class Cell(Strict):
    runtime: str  # "" for a function cloned `from:` a deployed one until it is read
    memory_mb: int
    architecture: str
    package_mb: float
    package_kind: PackageKind
    requirements: tuple[str, ...] = ()
    function: str | None = None  # the user's function this cell measures (functions:)
    runtime_in_id: bool = False  # a function crossed over `runtimes:` names it in its id
    provisioned: int = 0  # provisioned concurrency on the version each round invokes
    snapstart: Snapstart = "off"

    @property
    def published(self) -> bool:
        """Measured on a version published each round (the levers exist only there)."""
        return self.provisioned > 0 or self.snapstart == "on"

    # Set only when the target lists `regions`; a single-region cell's id stays as it was.
    region: str | None = None

    @property
    def family(self) -> str:
        return runtime_family(self.runtime) if self.runtime else ""

    @property
    def id(self) -> str:
        """Stable, readable cell id, e.g. `python3.12-512mb-x86_64-inert-5mb`, or for a
        function `orders-512mb-x86_64` (`orders-python3.12-512mb-x86_64` when crossed)."""
        if self.function is not None:
            runtime = f"-{self.runtime}" if self.runtime_in_id else ""
            return f"{self.function}{runtime}-{self.memory_mb}mb-{self.architecture}"
        size = f"{self.package_mb:g}mb"
        if self.package_kind == "none":
            pkg = "none"
        elif self.package_kind == "requirements":
            digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:8]
            pkg = f"req-{digest}"
        else:
            pkg = f"{self.package_kind}-{size}"
        levers = (f"-pc{self.provisioned}" if self.provisioned else "") + (
            "-snapstart" if self.snapstart == "on" else ""
        )  # absent when off: the ids of matrices without these axes never change
        base = f"{self.runtime}-{self.memory_mb}mb-{self.architecture}-{pkg}{levers}"
        return base if self.region is None else f"{base}-{self.region}"

    @property
    def code_key(self) -> tuple[str, str, float, tuple[str, ...], str]:
        """What determines the deployment package; memory never does."""
        # Architecture matters only where native code is built: installed dependencies,
        # and the OS-only runtimes' compiled bootstrap.
        if self.function is not None:
            return (self.runtime, "function", 0.0, (self.function,), self.architecture)
        native = self.package_kind == "requirements" or self.family == "provided"
        arch = self.architecture if native else "any"
        return (self.runtime, self.package_kind, self.package_mb, self.requirements, arch)
