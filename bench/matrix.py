"""The matrix contract (schema version 1): a strict model and its expansion into cells.

Unknown keys are rejected and every error names the file, the field path and the allowed
range, so a typo never silently changes what is measured.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bench.errors import InputError
from bench.experiments.settings import Experiment, Seconds, Traffic, check_experiment
from bench.lambda_limits import MEMORY_MAX_MB, MEMORY_MIN_MB, TIMEOUT_MAX_S
from bench.runtimes import creatable, refusal, runtime_family, supports_snapstart

SCHEMA_VERSION = 1

# Runtimes a fixture exists for and AWS still creates functions on (bench.runtimes).
SUPPORTED_RUNTIMES = creatable()
ARCHITECTURES = ("x86_64", "arm64")
PACKAGE_KINDS = ("inert", "imported")
PackageKind = Literal["none", "inert", "imported", "requirements", "function"]
Snapstart = Literal["off", "on"]


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads `on`/`off` as booleans: take them back as the words they were."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


OnOff = Annotated[Snapstart, BeforeValidator(_on_off)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Numbers are strict: YAML's `yes` or "128" must not quietly become 1 or 128.
StrictCount = Annotated[int, Field(strict=True)]
StrictNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Halving(_Strict):
    """All idle environments stay warm for `warm_s`, then half go per further `half_life_s`."""

    warm_s: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
    half_life_s: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]


class Eviction(_Strict):
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


class LocalTarget(_Strict):
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


class AwsTarget(_Strict):
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


class Package(_Strict):
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


FUNCTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)


class FunctionEntry(_Strict):
    """One of the user's functions: its code here (`code`), or a deployed one (`from`)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    code: str | None = None  # a directory or a .zip
    from_: str | None = Field(None, alias="from")  # arn:aws:lambda:...:function:NAME[:QUALIFIER]
    handler: str | None = None
    runtime: str | None = None
    runtimes: list[str] | None = None
    # requirements.txt (python) or the directory of package.json + lock file (nodejs);
    # default: found in the code directory, as SAM finds them.
    dependencies: str | None = None
    environment: dict[str, str] = {}
    timeout_s: StrictCount | None = Field(None, ge=1, le=TIMEOUT_MAX_S)
    layers: list[str] = []
    event: str | list[str] | None = None  # JSON file(s), sent round-robin
    invoke_via: Literal["sdk", "url"] = "sdk"
    vpc: bool = False  # `from:` only: clone the original's VpcConfig too
    # Set by bench.clone when a `from:` entry is read, never by the user: the copy's VPC
    # configuration (vpc: true) and what the original was.
    vpc_config: dict[str, list[str]] | None = None
    cloned: dict[str, Any] | None = None

    @property
    def runtime_list(self) -> list[str]:
        if self.runtimes is not None:
            return list(self.runtimes)
        return [self.runtime] if self.runtime else []

    @property
    def events(self) -> list[str]:
        if self.event is None:
            return []
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @field_validator("code", "dependencies")
    @classmethod
    def _path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = _resolve(value, info)
        if not path.exists():
            raise ValueError(f"{value}: no such file or directory")
        if info.field_name == "code" and path.is_file() and path.suffix != ".zip":
            raise ValueError(f"{value}: expected a directory or a .zip")
        return str(path)

    @field_validator("event")
    @classmethod
    def _events(cls, value: str | list[str] | None, info: ValidationInfo) -> Any:
        if value is None:
            return None
        files = [value] if isinstance(value, str) else value
        if not files:
            raise ValueError("must name at least one JSON file (or be removed)")
        resolved = []
        for i, name in enumerate(files):
            path = _resolve(name, info)
            where = f"[{i}] " if isinstance(value, list) else ""
            if not path.is_file():
                raise ValueError(f"{where}{name}: no such file")
            try:
                import json

                json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{where}{name}: not a JSON document ({exc})") from None
            resolved.append(str(path))
        return resolved[0] if isinstance(value, str) else resolved

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must list at least one runtime")
        if len(set(value)) != len(value):
            raise ValueError("lists a runtime twice")
        for i, runtime in enumerate(value):
            why = refusal(runtime, (info.context or {}).get("today"))
            if why is not None:
                raise ValueError(f"[{i}] {why}")
        return value

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            why = refusal(value, (info.context or {}).get("today"))
            if why is not None:
                raise ValueError(why)
        return value

    @model_validator(mode="after")
    def _shape(self) -> FunctionEntry:
        if self.vpc_config is not None or self.cloned is not None:
            raise ValueError("vpc_config and cloned are read from the deployed function (from:)")
        if (self.code is None) == (self.from_ is None):
            raise ValueError("give exactly one of code or from")
        if self.runtime is not None and self.runtimes is not None:
            raise ValueError("give runtime or runtimes, not both")
        if self.from_ is not None:
            if not FUNCTION_ARN.match(self.from_):
                raise ValueError(
                    "from: expected arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]"
                )
            given = [k for k in ("handler", "runtime", "runtimes", "dependencies", "layers")
                     if getattr(self, k)]  # fmt: skip
            if given:
                raise ValueError(
                    f"from: takes {', '.join(given)} from the deployed function; remove them"
                )
            return self
        if self.vpc:
            raise ValueError("vpc applies only with from:")
        if not self.handler:
            raise ValueError("handler is required with code")
        if not self.runtime_list:
            raise ValueError("runtime (or runtimes) is required")
        return self


def _resolve(value: str, info: ValidationInfo) -> Path:
    """A path in the matrix is relative to the matrix file's directory."""
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path.resolve()


class Filter(_Strict):
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


class Matrix(_Strict):
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


class Cell(_Strict):
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


def _format_location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("LocalTarget", "AwsTarget", "local", "aws"):
            continue  # discriminated-union tags are noise to a user
        else:
            # A key with a line break or blanks in it is quoted: the error stays one line.
            name = str(part) if str(part).isprintable() and str(part).strip() else repr(part)
            path += f".{name}" if path else name
    return path or "(top level)"


def _unknown_key(err: Any, errors: list[Any]) -> str:
    """`memroy_mb: unknown key (did you mean memory_mb?)`, the guess taken from the keys
    missing beside it, else from the keys the model at that place knows."""
    import difflib

    loc = tuple(err["loc"])
    key, parent = str(loc[-1]), loc[:-1]
    missing = [str(e["loc"][-1]) for e in errors
               if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent]  # fmt: skip
    guess = difflib.get_close_matches(key, missing or _known_keys(parent), n=1, cutoff=0.6)
    hint = (f"did you mean {guess[0]}?" if guess
            else "check the spelling; see the matrix contract in the README")
    return f"{_format_location(loc)}: unknown key ({hint})"


def _known_keys(parent: tuple[int | str, ...]) -> list[str]:
    """The field names of the model found at `parent`, walking Matrix's annotations; []
    where the walk cannot tell (a union of models, say)."""
    import typing

    from pydantic import BaseModel

    model: Any = Matrix
    for part in parent:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            continue  # a union's tag (local, aws) names no field
        candidates = [field.annotation]
        model = None
        while candidates:
            kind = candidates.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                model = kind
                break
            candidates.extend(typing.get_args(kind))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


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
        where = _format_location(tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            raise InputError(f"{source}: {_unknown_key(err, errors)}") from None
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
