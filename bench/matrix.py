"""The matrix contract (schema version 1): a strict model and its expansion into cells.

Unknown keys are rejected and every error names the file, the field path and the allowed
range, so a typo never silently changes what is measured.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bench.errors import InputError
from bench.experiments.settings import Experiment, Seconds, Traffic, check_experiment
from bench.lambda_limits import MEMORY_MAX_MB, MEMORY_MIN_MB, TIMEOUT_MAX_S
from bench.matrix_cells import Cell, PackageKind
from bench.matrix_errors import format_location, unknown_key
from bench.matrix_functions import FunctionEntry
from bench.matrix_strict import OnOff, Strict, StrictCount, StrictNumber
from bench.matrix_targets import AwsTarget, LocalTarget, Target
from bench.runtimes import creatable, refusal, runtime_family, supports_snapstart

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_RUNTIMES",
    "AwsTarget",
    "Cell",
    "FunctionEntry",
    "LocalTarget",
    "Matrix",
    "load_matrix",
    "parse_matrix",
    "runtime_family",
]

SCHEMA_VERSION = 1

# Runtimes a fixture exists for and AWS still creates functions on (bench.runtimes).
SUPPORTED_RUNTIMES = creatable()
ARCHITECTURES = ("x86_64", "arm64")
PACKAGE_KINDS = ("inert", "imported")


class Package(Strict):
    size_mb: list[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=250)]] = [0.0]
    kind: list[Literal["inert", "imported"]] = ["inert"]
    # pip (python) or npm (nodejs) specifiers, per runtime family; each adds a
    # "requirements" cell per runtime of that family, memory and architecture.
    requirements: dict[Literal["python", "nodejs"], list[str]] = {}

    @field_validator("size_mb", "kind")
    @classmethod
    def _non_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must list at least one value")
        return value

    @field_validator("requirements")
    @classmethod
    def _some_requirements(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for family, specs in value.items():
            if not specs:
                raise ValueError(f"{family} must list at least one package (or be removed)")
        return value


class Filter(Strict):
    function: str | None = None
    runtime: str | None = None
    memory_mb: int | None = None
    architecture: str | None = None
    package_mb: float | None = None
    package_kind: str | None = None
    provisioned: int | None = None
    snapstart: OnOff | None = None

    def matches(self, cell: Cell) -> bool:
        return all(
            value is None or getattr(cell, name) == value
            for name, value in self.model_dump().items()
        )


class Matrix(Strict):
    schema_version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
    target: Target = LocalTarget()
    runtimes: list[str] = []
    memory_mb: list[StrictCount]
    architectures: list[Literal["x86_64", "arm64"]] = ["x86_64"]
    package: Package = Package()
    cold_starts: StrictCount = Field(20, ge=1, le=10_000)
    burst: StrictCount = Field(10, ge=1, le=1000)
    warm_invocations: StrictCount = Field(20, ge=0, le=100_000)
    strategy: Literal["burst", "sequential"] = "burst"
    # Reserved concurrency per cell while it is measured (bench.concurrency): auto reserves
    # when the account can afford it and otherwise shares the unreserved pool.
    reserve: Literal["auto", "on", "off"] = "auto"
    timeout_s: StrictCount = Field(30, ge=1, le=TIMEOUT_MAX_S)
    # The user's own functions (bench.functions), crossed with memory_mb and architectures.
    functions: list[FunctionEntry] = []
    budget_usd: StrictNumber = Field(1.0, ge=0)
    # An invoke whose sandbox finished init longer ago than this is not a cold start.
    proactive_threshold_ms: StrictNumber = Field(1000.0, gt=0)
    # Provisioned concurrency on a published version per cold round: 0 is on demand.
    provisioned: list[Annotated[int, Field(strict=True, ge=0, le=1000)]] = [0]
    # SnapStart on a published version; only where the runtime supports it (others: off).
    snapstart: list[OnOff] = ["off"]
    exclude: list[Filter] = []
    # What the run measures: the cold-start matrix, how long idle environments stay warm
    # (keepalive), or warm-up pings against user-like traffic (warmup); bench.experiments.
    experiment: Experiment = "coldstart"
    idle_s: list[Seconds] | None = None
    environments: StrictCount | None = Field(None, ge=1, le=1000)
    repetitions: StrictCount | None = Field(None, ge=1, le=1000)
    ping_every_s: Seconds | None = None
    ping_concurrency: StrictCount | None = Field(None, ge=1, le=1000)
    duration_s: Seconds | None = None
    traffic: Traffic | None = None

    @field_validator("reserve", mode="before")
    @classmethod
    def _reserve_words(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on` / `off` as true / false: they mean the words here.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        today = (info.context or {}).get("today")
        for i, runtime in enumerate(value):
            why = refusal(runtime, today)
            if why is not None:
                raise ValueError(f"[{i}] {why}")
        if len(set(value)) != len(value):
            raise ValueError("lists a runtime twice")
        return value

    @field_validator("memory_mb")
    @classmethod
    def _memory(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("must list at least one memory size")
        for i, mb in enumerate(value):
            if mb < MEMORY_MIN_MB:
                raise ValueError(f"[{i}] {mb} is below the Lambda minimum of {MEMORY_MIN_MB}")
            if mb > MEMORY_MAX_MB:
                raise ValueError(f"[{i}] {mb} is above the Lambda maximum of {MEMORY_MAX_MB}")
            if mb in value[:i]:
                raise ValueError(f"[{i}] {mb} is listed twice")
        return value

    @field_validator("provisioned", "snapstart")
    @classmethod
    def _levers(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must list at least one value")
        for i, item in enumerate(value):
            if item in value[:i]:
                raise ValueError(f"[{i}] {item} is listed twice")
        return value

    @field_validator("architectures")
    @classmethod
    def _architectures(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one architecture")
        for i, arch in enumerate(value):
            if arch in value[:i]:
                raise ValueError(f"[{i}] {arch} is listed twice")
        return value

    @model_validator(mode="after")
    def _burst_fits(self) -> Matrix:
        if not self.runtimes and not self.functions:
            raise ValueError("runtimes: must list at least one runtime (or give functions)")
        names = [f.name for f in self.functions]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"functions[{i}].name: {name!r} is listed twice")
        if isinstance(self.target, LocalTarget):
            for i, entry in enumerate(self.functions):
                if entry.layers:
                    raise ValueError(
                        f"functions[{i}].layers: layers are AWS only; the local target "
                        "cannot run them (remove layers or use an aws target)"
                    )
        if self.burst > self.cold_starts:
            raise ValueError(f"burst ({self.burst}) exceeds cold_starts ({self.cold_starts})")
        for family in self.package.requirements:
            if not any(runtime_family(r) == family for r in self.runtimes):
                raise ValueError(f"package.requirements.{family} has no {family} runtime to use it")
        if "on" in self.snapstart and not any(supports_snapstart(r) for r in self.runtimes):
            raise ValueError(
                "snapstart: on applies to none of the runtimes listed (SnapStart supports "
                "java11+, python3.12+ and dotnet8+)"
            )
        self._check_exclude()
        check_experiment(self)
        return self

    def _check_exclude(self) -> None:
        """An exclude entry that names nothing in the matrix is a typo, not a no-op."""
        sizes = {float(s) for s in self.package.size_mb} | (
            {0.0} if self.package.requirements else set()
        )
        kinds = (
            set(self.package.kind)
            | ({"none"} if 0 in self.package.size_mb else set())
            | ({"requirements"} if self.package.requirements else set())
        )
        axes: dict[str, tuple[str, set[Any]]] = {
            "function": ("functions", {f.name for f in self.functions}),
            "runtime": (
                "runtimes",
                set(self.runtimes) | {r for f in self.functions for r in f.runtime_list},
            ),
            "memory_mb": ("memory_mb", set(self.memory_mb)),
            "architecture": ("architectures", set(self.architectures)),
            "package_mb": ("package.size_mb", sizes | ({0.0} if self.functions else set())),
            "package_kind": ("package.kind", kinds | ({"function"} if self.functions else set())),
            "provisioned": ("provisioned", set(self.provisioned)),
            "snapstart": ("snapstart", set(self.snapstart)),
        }
        for i, entry in enumerate(self.exclude):
            given = {k: v for k, v in entry.model_dump().items() if v is not None}
            if not given:
                raise ValueError(f"exclude[{i}]: empty, so it would exclude every cell")
            for key, value in given.items():
                axis, values = axes[key]
                if value not in values:
                    raise ValueError(f"exclude[{i}].{key}: {value!r} is not in {axis}")
        if self.exclude and not self.cells():
            raise ValueError("exclude removes every cell; nothing would run")

    @property
    def stage(self) -> str:
        return self.target.stage if isinstance(self.target, AwsTarget) else "local"

    @property
    def regions(self) -> list[str] | None:
        """The regions measured at once, or None: the one region the target resolves."""
        return self.target.regions

    def cells(self) -> list[Cell]:
        """Every runtime x memory x architecture x package combination, less `exclude`."""
        packages: list[tuple[float, PackageKind]] = []
        for size in self.package.size_mb:
            if size == 0:
                packages.append((0.0, "none"))  # no payload: the kind does not apply
            else:
                packages.extend((float(size), kind) for kind in self.package.kind)
        packages = list(dict.fromkeys(packages))
        cells = []
        regions: list[str | None] = [None] if self.regions is None else list(self.regions)
        for region, runtime, memory, arch in itertools.product(
            regions, self.runtimes, self.memory_mb, self.architectures
        ):
            options = list(packages)
            reqs = self.package.requirements.get(runtime_family(runtime))  # type: ignore[call-overload]
            if reqs:
                options.append((0.0, "requirements"))
            for size, kind in options:
                for provisioned, snapstart in itertools.product(self.provisioned, self.snapstart):
                    if snapstart == "on" and (provisioned or not supports_snapstart(runtime)):
                        continue  # AWS offers SnapStart without provisioned concurrency only
                    cell = Cell(
                        runtime=runtime,
                        memory_mb=memory,
                        architecture=arch,
                        package_mb=size,
                        package_kind=kind,
                        requirements=tuple(reqs) if kind == "requirements" and reqs else (),
                        provisioned=provisioned,
                        snapstart=snapstart,
                        region=region,
                    )
                    if not any(f.matches(cell) for f in self.exclude):
                        cells.append(cell)
        return cells + self._function_cells()

    def _function_cells(self) -> list[Cell]:
        """Each function x its runtimes x memory x architecture, less `exclude`."""
        cells = []
        for entry in self.functions:
            crossed = entry.runtimes is not None
            for runtime, memory, arch in itertools.product(
                entry.runtime_list or [""], self.memory_mb, self.architectures
            ):
                cell = Cell(
                    function=entry.name,
                    runtime_in_id=crossed,
                    runtime=runtime,
                    memory_mb=memory,
                    architecture=arch,
                    package_mb=0.0,
                    package_kind="function",
                )
                if not any(f.matches(cell) for f in self.exclude):
                    cells.append(cell)
        return cells

    def dump_as_given(self) -> dict[str, Any]:
        """The matrix as its file gave it: a `from:` entry as written, not as resolved
        (bench.clone keeps the written one under cloned["entry"]), so a resume can read
        and resolve it again."""
        data = self.model_dump(mode="json")
        data["functions"] = [
            entry.cloned["entry"] if entry.cloned else dumped
            for entry, dumped in zip(self.functions, data.get("functions", []), strict=True)
        ]
        return data

    def clones(self) -> dict[str, dict[str, Any]]:
        """What each `from:` function's original was (bench.clone), by function name."""
        return {
            f.name: {k: v for k, v in f.cloned.items() if k != "entry"}
            for f in self.functions
            if f.cloned
        }

    def function(self, name: str) -> FunctionEntry:
        return next(f for f in self.functions if f.name == name)

    def timeout_of(self, cell: Cell) -> int:
        """The function timeout a cell runs with: its function's own, else the matrix's."""
        if cell.function is not None:
            own = self.function(cell.function).timeout_s
            if own is not None:
                return own
        return self.timeout_s


def parse_matrix(
    data: Any,
    source: str = "<matrix>",
    *,
    today: date | None = None,
    base_dir: Path | None = None,
) -> Matrix:
    """Validate a loaded mapping; raise InputError naming the source and field. `today`
    (default: the UTC date) decides which runtimes AWS still creates functions on;
    relative paths of functions are read from `base_dir` (the matrix file's directory)."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping at the top level")
    try:
        return Matrix.model_validate(data, context={"today": today, "base_dir": base_dir})
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelled key shows up twice: as an unknown key and as the required key it
        # was meant to be. The unknown key names the typo, so it goes first.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        where = format_location(tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            raise InputError(f"{source}: {unknown_key(err, errors, Matrix)}") from None
        elif message.startswith("[") and "]" in message:
            index, _, rest = message.partition("] ")
            where, message = f"{where}{index}]", rest
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        if not err["loc"]:  # a whole-matrix check: its message names the fields itself
            raise InputError(f"{source}: {message}{more}") from None
        raise InputError(f"{source}: {where}: {message}{more}") from None


def load_matrix(path: str | Path) -> Matrix:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the matrix: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{where}: not valid YAML") from None
    return parse_matrix(data, str(path), base_dir=path.parent)
