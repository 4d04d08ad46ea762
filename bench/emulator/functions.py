"""The function registry: configurations, revisions and the Pending/Active, InProgress/
Successful state machine.

Each function keeps two configurations: `latest`, which the control plane shows, and
`current`, which invocations run. They differ while a create or an update is in flight,
so invokes during InProgress reach the old configuration, as on AWS. Transitions happen on
a timer and are also applied lazily on every read, so a poller never sees a stale state.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.emulator.code import CodePackage
from bench.emulator.contracts import FunctionSpec
from bench.emulator.errors import not_found, state_conflict, update_in_progress
from bench.emulator.versions import LATEST, Alias, Version, knows, resolve

BEING_CREATED = "The function is being created."


def now_stamp() -> str:
    """LastModified as Lambda writes it: 2026-11-27T14:02:12.123+0000."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class Config:
    """One immutable configuration of a function; a change makes a new one."""

    revision_id: str
    last_modified: str
    runtime: str
    handler: str
    role: str
    description: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str] | None  # None: never set (AWS then omits the key)
    architectures: tuple[str, ...]
    ephemeral_mb: int
    tracing: str
    logging: dict[str, str]
    code: CodePackage
    snapstart: str = "None"  # SnapStart.ApplyOn: None | PublishedVersions


@dataclass
class Function:
    name: str
    arn: str
    latest: Config
    current: Config | None = None  # None until the function first becomes Active
    state: str = "Pending"
    update_status: str | None = None  # None until the first transition
    ready_at: float = 0.0  # monotonic time the pending transition completes
    tags: dict[str, str] = field(default_factory=dict)
    reserved: int | None = None
    versions: dict[str, Version] = field(default_factory=dict)  # published, by number
    published: int = 0  # the last version number handed out (never reused)
    aliases: dict[str, Alias] = field(default_factory=dict)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """A name, a partial ARN (123456789012:function:name) or an ARN -> (name, qualifier)."""
    parts = ref.split(":")
    if ref.startswith("arn:") and len(parts) >= 7:
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if len(parts) >= 3 and parts[1] == "function":
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:
        return parts[0], parts[1]
    return ref, None


class Registry:
    """All functions of one emulator. Used from the event loop thread only."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        functions_dir: Path,
        pending_delay_s: float,
        update_delay_s: float,
        schedule: Callable[[float, Callable[[], None]], object],
        on_current: Callable[[str, str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.functions_dir = functions_dir
        self.pending_delay_s = pending_delay_s
        self.update_delay_s = update_delay_s
        self._schedule = schedule
        self._on_current = on_current  # (name, revision now current): retire the others
        # (role, function, revision) -> what the platform adds to its environment
        self.platform_env: Callable[[str, str, str], dict[str, str]] = lambda *_: {}
        self._clock = clock
        self._functions: dict[str, Function] = {}

    def arn(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base

    # --- state machine ---------------------------------------------------------------

    def _refresh(self, fn: Function) -> None:
        pending = fn.state == "Pending" or fn.update_status == "InProgress"
        if not pending or self._clock() < fn.ready_at:
            return
        fn.latest = replace(fn.latest, revision_id=str(uuid.uuid4()))
        fn.current = fn.latest
        fn.state, fn.update_status = "Active", "Successful"
        self._on_current(fn.name, fn.current.revision_id)

    def _arm(self, fn: Function, delay: float) -> None:
        fn.ready_at = self._clock() + delay
        name = fn.name

        def fire() -> None:
            live = self._functions.get(name)
            if live is fn:
                self._refresh(fn)

        self._schedule(delay, fire)

    # --- lookups ---------------------------------------------------------------------

    def get(
        self, ref: str, *, qualifier: str | None = None, qualified_error: bool = False
    ) -> Function:
        """The function named by `ref`; 404 as AWS words it (qualified for data-plane calls)."""
        name, in_ref = parse_ref(ref)
        qualifier = in_ref or qualifier
        fn = self._functions.get(name)
        if fn is None or not knows(fn, qualifier):
            shown = qualifier or ("$LATEST" if qualified_error else None)
            raise not_found(self.arn(name, shown))
        self._refresh(fn)
        return fn

    def version_of(self, fn: Function, qualifier: str | None) -> str:
        """"$LATEST" or the version number `qualifier` (a version or an alias) runs."""
        return resolve(fn, qualifier, self.arn(fn.name, qualifier))

    def version_ready(self, fn: Function, number: str, delay: float | None = None) -> None:
        """A published version becomes Active after `delay` (the create delay by default)."""

        def fire() -> None:
            version = fn.versions.get(number)
            if version is not None and version.state == "Pending":
                version.state = "Active"
                if version.config.snapstart == "PublishedVersions":
                    version.optimization = "On"

        self._schedule(self.pending_delay_s if delay is None else delay, fire)

    def all(self) -> list[Function]:
        for fn in self._functions.values():
            self._refresh(fn)
        return [self._functions[n] for n in sorted(self._functions)]

    def reserved_total(self, *, excluding: str | None = None) -> int:
        return sum(fn.reserved or 0 for fn in self._functions.values() if fn.name != excluding)

    # --- mutations -------------------------------------------------------------------

    def create(self, name: str, config: Config, tags: dict[str, str]) -> Function:
        fn = Function(name=name, arn=self.arn(name), latest=config, tags=dict(tags))
        self._functions[name] = fn
        self._arm(fn, self.pending_delay_s)
        return fn

    def exists(self, name: str) -> bool:
        return name in self._functions

    def check_updatable(self, fn: Function) -> None:
        if fn.state == "Pending":
            raise state_conflict("Pending")
        if fn.update_status == "InProgress":
            raise update_in_progress(fn.arn)

    def update(self, fn: Function, **changes: Any) -> Function:
        self.check_updatable(fn)
        fn.latest = replace(
            fn.latest, revision_id=str(uuid.uuid4()), last_modified=now_stamp(), **changes
        )
        fn.update_status = "InProgress"
        self._arm(fn, self.update_delay_s)
        return fn

    def delete(self, fn: Function) -> None:
        self._functions.pop(fn.name, None)

    # --- views -----------------------------------------------------------------------

    def spec(self, fn: Function, version: str = LATEST) -> FunctionSpec:
        """What the sandbox layer runs: the *current* configuration (or a published
        version's), never the host's env."""
        cfg = fn.current if version == LATEST else fn.versions[version].config
        if cfg is None:  # only while Pending, which callers reject first
            raise state_conflict(fn.state)
        platform = self.platform_env(cfg.role, fn.name, cfg.revision_id)
        return FunctionSpec(
            name=fn.name,
            arn=fn.arn if version == LATEST else self.arn(fn.name, version),
            version=version,
            revision_id=cfg.revision_id,
            runtime=cfg.runtime,
            handler=cfg.handler,
            code_dir=cfg.code.directory,
            memory_mb=cfg.memory_mb,
            timeout_s=cfg.timeout_s,
            environment=dict(cfg.environment or {}),
            log_group=cfg.logging["LogGroup"],
            log_format="JSON" if cfg.logging["LogFormat"] == "JSON" else "Text",
            ephemeral_mb=cfg.ephemeral_mb,
            code_sha256=cfg.code.sha256_hex,
            region=self.region,
            account_id=self.account_id,
            platform_env=platform,
            endpoint_port=_port(platform.get(ENDPOINT_VARIABLE)),
        )

    def configuration(
        self, fn: Function, *, listing: bool = False, version: str = LATEST
    ) -> dict[str, Any]:
        """FunctionConfiguration with the keys real AWS returns (ListFunctions omits states).
        A published version shows its frozen configuration, its own ARN and RevisionId."""
        published = fn.versions.get(version) if version != LATEST else None
        cfg = published.config if published else fn.latest
        out: dict[str, Any] = {
            "Architectures": list(cfg.architectures),
            "CodeSha256": cfg.code.sha256_b64,
            "CodeSize": cfg.code.size,
            "Description": published.description if published else cfg.description,
            "EphemeralStorage": {"Size": cfg.ephemeral_mb},
            "FunctionArn": self.arn(fn.name, version) if published else fn.arn,
            "FunctionName": fn.name,
            "Handler": cfg.handler,
            "LastModified": cfg.last_modified,
            "LoggingConfig": dict(cfg.logging),
            "MemorySize": cfg.memory_mb,
            "PackageType": "Zip",
            "RevisionId": cfg.revision_id,
            "Role": cfg.role,
            "Runtime": cfg.runtime,
            "SnapStart": {
                "ApplyOn": cfg.snapstart,
                "OptimizationStatus": published.optimization if published else "Off",
            },
            "Timeout": cfg.timeout_s,
            "TracingConfig": {"Mode": cfg.tracing},
            "Version": version if published else LATEST,
        }
        if cfg.environment is not None:
            out["Environment"] = {"Variables": dict(cfg.environment)}
        if listing:
            return out
        out["RuntimeVersionConfig"] = {"RuntimeVersionArn": self.runtime_version_arn(cfg.runtime)}
        state = published.state if published else fn.state
        update_status = "Successful" if published else fn.update_status
        out["State"] = state
        if state == "Pending":
            out["StateReason"] = BEING_CREATED
            out["StateReasonCode"] = "Creating"
        if update_status is not None:
            out["LastUpdateStatus"] = update_status
        if update_status == "InProgress":
            out["LastUpdateStatusReason"] = BEING_CREATED
            out["LastUpdateStatusReasonCode"] = "Creating"
        return out

    def runtime_version_arn(self, runtime: str) -> str:
        digest = hashlib.sha256(f"coldbench-local/{runtime}".encode()).hexdigest()
        return f"arn:aws:lambda:{self.region}::runtime:{digest}"


ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"


def _port(url: str | None) -> int:
    from urllib.parse import urlsplit

    return (urlsplit(url).port or 0) if url else 0
