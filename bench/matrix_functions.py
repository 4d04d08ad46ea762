"""The matrix's `functions`: a user's own function, its code here (`code`) or a deployed
one (`from`), each path read relative to the matrix file and checked as it is loaded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bench.lambda_limits import TIMEOUT_MAX_S
from bench.matrix_strict import Strict, StrictCount
from bench.runtimes import refusal

FUNCTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)


class FunctionEntry(Strict):
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
