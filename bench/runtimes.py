"""The Lambda runtimes coldbench has fixtures for, with AWS's deprecation schedule.

AWS deprecates a runtime in steps: on the deprecation date it stops patching it, on the
"block function create" date CreateFunction refuses it, and on "block function update"
UpdateFunctionConfiguration refuses it too. A harness that creates a fresh function per
cell is stopped at the second step, so a matrix naming a runtime past it is refused at
load, with the date and what to use instead. Dates are AWS's published ones (Lambda
developer guide, "Lambda runtimes"); None means none was published when this table was
last checked. The operating system decides which wheels run there (see `wheel_platforms`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class Runtime:
    identifier: str
    os: str  # "al2" or "al2023"
    deprecated: date | None
    block_create: date | None
    replacement: str


def _d(text: str) -> date:
    return date.fromisoformat(text)


# Creatable runtimes a fixture exists for. Sources: docs/runtimes.md.
RUNTIMES: dict[str, Runtime] = {
    r.identifier: r
    for r in (
        Runtime("python3.10", "al2", _d("2026-10-31"), None, "python3.13"),
        Runtime("python3.11", "al2", _d("2027-06-30"), None, "python3.13"),
        Runtime("python3.12", "al2023", _d("2028-10-31"), None, "python3.13"),
        Runtime("python3.13", "al2023", _d("2029-06-30"), None, "python3.14"),
        Runtime("python3.14", "al2023", _d("2029-06-30"), None, "python3.14"),
        Runtime("nodejs20.x", "al2023", _d("2026-04-30"), _d("2026-08-31"), "nodejs22.x"),
        Runtime("nodejs22.x", "al2023", _d("2027-04-30"), None, "nodejs24.x"),
        Runtime("nodejs24.x", "al2023", _d("2028-04-30"), None, "nodejs24.x"),
        Runtime("java17", "al2", _d("2027-06-30"), None, "java21"),
        Runtime("java21", "al2023", _d("2029-06-30"), None, "java25"),
        Runtime("java25", "al2023", None, None, "java25"),
        Runtime("provided.al2", "al2", _d("2026-07-31"), None, "provided.al2023"),
        Runtime("provided.al2023", "al2023", _d("2029-06-30"), None, "provided.al2023"),
    )
}
# Runtimes AWS has stopped creating functions on, which have no fixture here either.
RETIRED = {
    "python3.8": "python3.13",
    "python3.9": "python3.13",
    "nodejs16.x": "nodejs22.x",
    "nodejs18.x": "nodejs22.x",
    "java8": "java21",
    "java8.al2": "java21",
    "java11": "java21",
}

# Wheels a runtime's operating system runs, newest first: Amazon Linux 2 ships glibc 2.26
# (manylinux2014 = manylinux_2_17 is the newest that fits), Amazon Linux 2023 glibc 2.34.
_WHEEL_POLICIES = {
    "al2": ("manylinux2014",),
    "al2023": ("manylinux_2_34", "manylinux_2_28", "manylinux2014"),
}
_WHEEL_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


def today_utc() -> date:
    return datetime.now(UTC).date()


def runtime_family(runtime: str) -> str:
    """`python3.12` -> `python`, `nodejs22.x` -> `nodejs`, `java21` -> `java`,
    `provided.al2023` -> `provided`."""
    match = re.match(r"[a-z]+", runtime)
    if not match:
        raise ValueError(f"not a runtime identifier: {runtime!r}")
    return match.group(0)


def creatable(today: date | None = None) -> list[str]:
    """Runtimes a function can be created on today, in table order."""
    day = today or today_utc()
    return [
        r.identifier
        for r in RUNTIMES.values()
        if r.block_create is None or day < r.block_create
    ]


def refusal(runtime: str, today: date | None = None) -> str | None:
    """Why a matrix may not name `runtime` (one line), or None when it may."""
    day = today or today_utc()
    known = RUNTIMES.get(runtime)
    if known is not None:
        if known.block_create is not None and day >= known.block_create:
            return (
                f"{runtime}: AWS blocks creating functions on it since "
                f"{known.block_create.isoformat()} (end of support "
                f"{known.deprecated.isoformat() if known.deprecated else 'unknown'}); "
                f"use {known.replacement}"
            )
        return None
    if runtime in RETIRED:
        return (
            f"{runtime} is deprecated and AWS blocks creating functions on it; "
            f"use {RETIRED[runtime]}"
        )
    return f"unknown runtime {runtime!r}; allowed: {', '.join(creatable(day))}"


def deprecation_warning(runtime: str, today: date | None = None) -> str | None:
    """A one-line warning for a runtime past its end of support but still creatable."""
    day = today or today_utc()
    known = RUNTIMES.get(runtime)
    if known is None or known.deprecated is None or day < known.deprecated:
        return None
    when = (
        f"AWS blocks creating functions on it from {known.block_create.isoformat()}"
        if known.block_create
        else "AWS may block creating functions on it at any time"
    )
    return (
        f"{runtime} reached end of support on {known.deprecated.isoformat()}; {when}: "
        f"move to {known.replacement}"
    )


# Runtimes SnapStart supports (Lambda developer guide, "Improving startup performance with
# Lambda SnapStart"): Java 11 and later, Python 3.12 and later, .NET 8 and later.
_SNAPSTART = re.compile(r"^(java(1[1-9]|[2-9]\d)|python3\.(1[2-9]|[2-9]\d)|dotnet([89]|\d\d))$")


def supports_snapstart(runtime: str) -> bool:
    return bool(_SNAPSTART.match(runtime))


def wheel_platforms(runtime: str, architecture: str) -> list[str]:
    """pip `--platform` tags for wheels that run on `runtime`, newest policy first."""
    known = RUNTIMES.get(runtime)
    policies = _WHEEL_POLICIES[known.os if known else "al2"]
    return [f"{policy}_{_WHEEL_ARCH[architecture]}" for policy in policies]
