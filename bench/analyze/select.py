"""Which functions `bench analyze` reads, where their logs are, and over which window.

Functions are named (`--function`), found by name prefix (`--prefix`) or by tag
(`--tag KEY=VALUE`, which narrows the named and prefixed ones, or selects on its own).
Every Lambda call goes through the control plane's pacing and retries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.aws_errors import error_code
from bench.errors import InputError, TargetError
from bench.naming import log_group_of
from bench.results.schema import utc_timestamp

DEFAULT_SINCE = "24h"
_AGE = re.compile(r"\s*(\d+)\s*([smhd])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Function:
    """One selected function as its configuration describes it now."""

    name: str
    arn: str
    runtime: str  # "image" for a container image function
    memory_mb: int
    architecture: str
    log_group: str  # LoggingConfig.LogGroup, or /aws/lambda/<name>
    log_format: str  # Text or JSON
    code_size_bytes: int


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int  # inclusive

    def describe(self) -> dict[str, str]:
        return {"start": _iso(self.start_ms), "end": _iso(self.end_ms)}


def _iso(epoch_ms: int) -> str:
    """The results format's instant, to the millisecond the window is given in."""
    return utc_timestamp(datetime.fromtimestamp(epoch_ms / 1000, UTC))[:-4] + "Z"


def _instant(text: str, flag: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{flag} {text!r}: expected an ISO 8601 time, e.g. 2026-03-01T12:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_window(
    since: str | None, start: str | None, end: str | None, now: datetime | None = None
) -> Window:
    """`--since 24h` back from `--end` (default now), or `--start`..`--end`."""
    if since is not None and start is not None:
        raise InputError("--since and --start both say where the window begins; give one")
    now = now or datetime.now(UTC)
    stop = _instant(end, "--end") if end is not None else now
    if start is not None:
        begin = _instant(start, "--start")
    else:
        text = since if since is not None else DEFAULT_SINCE
        match = _AGE.fullmatch(text)
        if match is None or int(match.group(1)) == 0:
            raise InputError(f"--since {text!r}: expected a positive number and s, m, h or d, "
                             "e.g. 24h")  # fmt: skip
        begin = stop - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if begin >= stop:
        raise InputError(f"window {begin.isoformat()} .. {stop.isoformat()}: the start must be "
                         "before the end")  # fmt: skip
    return Window(int(begin.timestamp() * 1000), int(stop.timestamp() * 1000))


def parse_tags(tags: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise InputError(f"--tag {tag!r}: expected KEY=VALUE")
        parsed[key] = value
    return parsed


def _no_runtime(config: dict[str, Any]) -> str:
    return "image" if config.get("PackageType") == "Image" else "unknown"


def _describe(config: dict[str, Any]) -> Function:
    logging = config.get("LoggingConfig") or {}
    name = str(config["FunctionName"])
    return Function(
        name=name,
        arn=str(config.get("FunctionArn", "")),
        runtime=str(config.get("Runtime") or _no_runtime(config)),
        memory_mb=int(config.get("MemorySize") or 128),
        architecture=str((config.get("Architectures") or ["x86_64"])[0]),
        log_group=str(logging.get("LogGroup") or log_group_of(name)),
        log_format=str(logging.get("LogFormat") or "Text"),
        code_size_bytes=int(config.get("CodeSize") or 0),
    )


def select_functions(
    cp: Any, *, names: list[str], prefix: str | None, tags: dict[str, str]
) -> list[Function]:
    """The selected functions, sorted by name; a named function that does not exist, or a
    selection that finds none, is an input error."""
    if not names and prefix is None and not tags:
        raise InputError("select functions with --function NAME, --prefix P or --tag KEY=VALUE")
    lam = cp.lambda_client
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            config = cp.call(lambda n=name: lam.get_function_configuration(FunctionName=n),
                             "GetFunctionConfiguration")  # fmt: skip
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise InputError(f"--function {name}: no such function in this region") from None
            raise
        found[config["FunctionName"]] = config
    if prefix is not None or (tags and not names):
        for page in lam.get_paginator("list_functions").paginate():
            for config in page.get("Functions", []):
                if prefix is None or config["FunctionName"].startswith(prefix):
                    found.setdefault(config["FunctionName"], config)
    if tags:
        found = {n: c for n, c in found.items() if _has_tags(cp, c["FunctionArn"], tags)}
    if not found:
        wanted = " ".join(
            [*(f"--function {n}" for n in names)]
            + ([f"--prefix {prefix}"] if prefix is not None else [])
            + [f"--tag {k}={v}" for k, v in tags.items()]
        )
        raise InputError(f"{wanted}: no function matches")
    return [_describe(found[name]) for name in sorted(found)]


def _has_tags(cp: Any, arn: str, tags: dict[str, str]) -> bool:
    try:
        have = cp.call(lambda: cp.lambda_client.list_tags(Resource=arn), "ListTags")["Tags"]
    except Exception as exc:
        raise TargetError(f"ListTags {arn}: {error_code(exc) or exc}") from None
    return all(have.get(key) == value for key, value in tags.items())
