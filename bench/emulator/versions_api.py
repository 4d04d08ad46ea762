"""Lambda REST handlers for published versions and aliases: PublishVersion,
ListVersionsByFunction, Create/Get/Update/Delete/ListAliases (botocore 2015-03-31 URIs).

Routing configuration (weighted aliases) is not emulated and is refused with a clear
message rather than ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bench.emulator import versions
from bench.emulator.errors import AwsError, invalid_param, validation
from bench.emulator.http_json import json_response as _json
from bench.emulator.http_json import read_body as _body
from bench.emulator.versions import LATEST, Alias

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.functions import Function, Registry

Handler = Callable[["web.Request"], Awaitable["web.Response"]]
FunctionOf = Callable[["web.Request"], "Function"]
BASE = "/2015-03-31/functions/{FunctionName}"
_ALIAS_RE = re.compile(r"^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$")




def _page(items: list[Any], request: web.Request) -> tuple[list[Any], str | None]:
    try:
        start = int(request.query.get("Marker") or 0)
        size = max(1, min(int(request.query.get("MaxItems", "50")), 10_000))
    except ValueError as exc:
        raise invalid_param("Marker and MaxItems must be integers.") from exc
    page = items[start : start + size]
    return page, (str(start + size) if start + size < len(items) else None)


class VersionsApi:
    def __init__(
        self,
        registry: Registry,
        function_of: FunctionOf,
        on_published: Callable[[Function, versions.Version], None],
    ) -> None:
        self.registry = registry
        self.function_of = function_of
        # Makes a new version ready: at once, or after its SnapStart snapshot.
        self.on_published = on_published

    def routes(self) -> list[tuple[str, str, Handler, str]]:
        alias = BASE + "/aliases/{Name}"
        return [
            ("POST", BASE + "/versions", self.publish, "PublishVersion"),
            ("GET", BASE + "/versions", self.list_versions, "ListVersionsByFunction"),
            ("POST", BASE + "/aliases", self.create_alias, "CreateAlias"),
            ("GET", BASE + "/aliases", self.list_aliases, "ListAliases"),
            ("GET", alias, self.get_alias, "GetAlias"),
            ("PUT", alias, self.update_alias, "UpdateAlias"),
            ("DELETE", alias, self.delete_alias, "DeleteAlias"),
        ]

    # --- versions ----------------------------------------------------------------------

    async def publish(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        self.registry.check_updatable(fn)
        data = await _body(request)
        wanted = data.get("RevisionId")
        if wanted and wanted != fn.latest.revision_id:
            raise AwsError(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id",
                412,
            )
        description, code = str(data.get("Description", "")), data.get("CodeSha256")
        version, new = versions.publish(fn, description, code)
        if new:
            self.on_published(fn, version)
        return _json(self.registry.configuration(fn, version=version.number), 201)

    async def list_versions(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        items = [self.registry.configuration(fn, listing=True)]
        items[0]["FunctionArn"] = self.registry.arn(fn.name, LATEST)
        for number in sorted(fn.versions, key=int):
            items.append(self.registry.configuration(fn, listing=True, version=number))
        page, marker = _page(items, request)
        out: dict[str, Any] = {"Versions": page}
        if marker:
            out["NextMarker"] = marker
        return _json(out)

    def delete(self, fn: Function, qualifier: str) -> str:
        """DeleteFunction with a qualifier: that version goes (never through an alias)."""
        if qualifier in fn.aliases:
            raise invalid_param(
                "Deletion of aliases is not supported by DeleteFunction. Use DeleteAlias."
            )
        versions.delete_version(fn, qualifier, self.registry.arn(fn.name, qualifier))
        return qualifier

    # --- aliases -----------------------------------------------------------------------

    def _view(self, fn: Function, alias: Alias) -> dict[str, Any]:
        return {
            "AliasArn": self.registry.arn(fn.name, alias.name),
            "Name": alias.name,
            "FunctionVersion": alias.version,
            "Description": alias.description,
            "RevisionId": alias.revision_id,
        }

    def _alias(self, request: web.Request, fn: Function) -> Alias:
        name = request.match_info["Name"]
        alias = fn.aliases.get(name)
        if alias is None:
            message = f"Cannot find alias arn: {self.registry.arn(fn.name, name)}"
            raise AwsError(
                "ResourceNotFoundException", message, 404, body={"Type": "User", "Message": message}
            )
        return alias

    @staticmethod
    def _no_routing(data: dict[str, Any]) -> None:
        routing = data.get("RoutingConfig")
        weights = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else routing
        if weights:
            raise invalid_param(
                "RoutingConfig (weighted aliases) is not emulated by the local Lambda: point "
                "the alias at one version."
            )

    async def create_alias(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        data = await _body(request)
        name = data.get("Name")
        if not isinstance(name, str) or not _ALIAS_RE.match(name) or len(name) > 128:
            raise validation(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                f"{versions.ALIAS_NAME}"
            )
        self._no_routing(data)
        wanted = data.get("FunctionVersion")
        target = versions.check_alias_target(fn, wanted, self.registry.arn(fn.name, str(wanted)))
        if name in fn.aliases:
            raise AwsError(
                "ResourceConflictException",
                f"Alias already exists: {self.registry.arn(fn.name, name)}",
                409,
            )
        alias = Alias(name=name, version=target, description=str(data.get("Description", "")))
        fn.aliases[name] = alias
        return _json(self._view(fn, alias), 201)

    async def get_alias(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        return _json(self._view(fn, self._alias(request, fn)))

    async def update_alias(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        alias = self._alias(request, fn)
        data = await _body(request)
        wanted = data.get("RevisionId")
        if wanted and wanted != alias.revision_id:
            raise AwsError(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id",
                412,
            )
        self._no_routing(data)
        if "FunctionVersion" in data:
            alias.version = versions.check_alias_target(
                fn, data["FunctionVersion"], self.registry.arn(fn.name, data["FunctionVersion"])
            )
        if "Description" in data:
            alias.description = str(data["Description"])
        alias.revision_id = str(uuid.uuid4())
        return _json(self._view(fn, alias))

    async def delete_alias(self, request: web.Request) -> web.Response:
        from aiohttp import web

        fn = self.function_of(request)
        fn.aliases.pop(request.match_info["Name"], None)  # deleting a missing alias is a no-op
        return web.Response(status=204)

    async def list_aliases(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        only = request.query.get("FunctionVersion")
        aliases = [a for _, a in sorted(fn.aliases.items()) if only is None or a.version == only]
        page, marker = _page([self._view(fn, a) for a in aliases], request)
        out: dict[str, Any] = {"Aliases": page}
        if marker:
            out["NextMarker"] = marker
        return _json(out)
