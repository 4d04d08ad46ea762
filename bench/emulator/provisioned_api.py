"""Lambda REST handlers for provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrency
Config (botocore 2019-09-30 URIs).

A configuration names a published version or an alias. Putting one starts that many
environments of the version at once (SandboxManager.provision: through capacity
admission, at the memory's CPU share, init type provisioned-concurrency); its Status is
IN_PROGRESS until every one has initialised, then READY, or FAILED with the reason.
Invocations of the version use those environments first (no Init Duration) and start
on-demand ones beyond them. Deleting the configuration stops its environments.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.emulator.contracts import Sandboxes
from bench.emulator.errors import AwsError, invalid_param, not_found
from bench.emulator.functions import now_stamp, parse_ref
from bench.emulator.http_json import json_response as _json
from bench.emulator.versions import LATEST

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.functions import Function, Registry

Handler = Callable[["web.Request"], Awaitable["web.Response"]]
FunctionOf = Callable[["web.Request"], "Function"]
BASE = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"
NOT_FOUND = "No Provisioned Concurrency Config found for this function"


@dataclass
class ProvisionedConfig:
    requested: int
    version: str  # the published version it provisions (an alias resolved when put)
    status: str = "IN_PROGRESS"
    allocated: int = 0
    reason: str | None = None
    last_modified: str = field(default_factory=now_stamp)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": self.last_modified,
        }
        if self.reason:
            out["StatusReason"] = self.reason
        return out



class ProvisionedApi:
    def __init__(self, registry: Registry, function_of: FunctionOf, sandboxes: Sandboxes) -> None:
        self.registry = registry
        self.function_of = function_of
        self.sandboxes = sandboxes
        self.configs: dict[tuple[str, str], ProvisionedConfig] = {}  # (function, qualifier)
        self.tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[tuple[str, str, Handler, str]]:
        return [
            ("PUT", BASE, self.put, "PutProvisionedConcurrencyConfig"),
            # ListProvisionedConcurrencyConfigs is the same path with ?List=ALL.
            ("GET", BASE, self.get, "GetProvisionedConcurrencyConfig"),
            ("DELETE", BASE, self.delete, "DeleteProvisionedConcurrencyConfig"),
        ]

    def _qualifier(self, request: web.Request, fn: Function) -> str:
        qualifier = parse_ref(request.match_info["FunctionName"])[1]
        qualifier = qualifier or request.query.get("Qualifier")
        if not qualifier:
            raise invalid_param("Qualifier is required.")
        if qualifier == LATEST:
            raise invalid_param(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        return qualifier

    async def put(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        qualifier = self._qualifier(request, fn)
        version = self.registry.version_of(fn, qualifier)
        raw = await request.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise AwsError("SerializationException", "Request body is not valid JSON.") from exc
        count = data.get("ProvisionedConcurrentExecutions") if isinstance(data, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise invalid_param("ProvisionedConcurrentExecutions must be an integer >= 1.")
        if fn.reserved is not None and count > fn.reserved:
            raise invalid_param(
                "Requested Provisioned Concurrency should not be greater than the "
                f"reservedConcurrentExecution for function ({fn.reserved})."
            )
        key = (fn.name, qualifier)
        if key in self.configs:
            self._drop(fn.name, key)
        config = ProvisionedConfig(requested=count, version=version)
        self.configs[key] = config
        spec = self.registry.spec(fn, version)
        task = asyncio.get_running_loop().create_task(self._allocate(config, spec, count))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return _json(config.view(), 202)

    async def _allocate(self, config: ProvisionedConfig, spec: Any, count: int) -> None:
        reason = await self.sandboxes.provision(spec, count)
        if reason is None:
            config.status, config.allocated = "READY", count
        else:
            config.status, config.reason = "FAILED", reason
        config.last_modified = now_stamp()

    async def get(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        if request.query.get("List") == "ALL":
            return self._list(fn)
        config = self.configs.get((fn.name, self._qualifier(request, fn)))
        if config is None:
            raise AwsError(
                "ProvisionedConcurrencyConfigNotFoundException", NOT_FOUND, 404,
                body={"Type": "User", "message": NOT_FOUND},
            )  # fmt: skip
        return _json(config.view())

    def _list(self, fn: Function) -> web.Response:
        items = [
            {"FunctionArn": self.registry.arn(fn.name, qualifier), **config.view()}
            for (name, qualifier), config in sorted(self.configs.items())
            if name == fn.name
        ]
        return _json({"ProvisionedConcurrencyConfigs": items})

    async def delete(self, request: web.Request) -> web.Response:
        from aiohttp import web

        fn = self.function_of(request)
        key = (fn.name, self._qualifier(request, fn))
        if key not in self.configs:
            raise not_found(self.registry.arn(*key))
        self._drop(fn.name, key)
        return web.Response(status=204)

    def _drop(self, name: str, key: tuple[str, str]) -> None:
        config = self.configs.pop(key)
        self.sandboxes.retire(name, None, version=config.version)

    def forget(self, name: str) -> None:
        """The function is gone: so are its configurations."""
        for key in [k for k in self.configs if k[0] == name]:
            del self.configs[key]
