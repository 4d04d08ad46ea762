"""Lambda REST handlers: control plane (functions, concurrency, tags, account) and Invoke.

URIs, methods and member locations follow botocore's lambda/2015-03-31 service model;
status codes, error codes and messages follow responses recorded from real AWS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.emulator import validate
from bench.emulator.account import AccountSettings, UnreservedPool
from bench.emulator.code import BAD_ZIP, store_package
from bench.emulator.code_url import PREFIX as CODE_PREFIX
from bench.emulator.code_url import CodeUrls
from bench.emulator.contracts import Sandboxes
from bench.emulator.errors import (
    AwsError,
    already_exists,
    invalid_param,
    not_found,
    validation,
)
from bench.emulator.event_config_api import EventConfigApi
from bench.emulator.function_urls import FunctionUrls
from bench.emulator.functions import Config, Function, Registry, now_stamp, parse_ref
from bench.emulator.http_json import json_response as _json
from bench.emulator.http_json import read_body as _body
from bench.emulator.invoke import Invoker
from bench.emulator.provisioned_api import ProvisionedApi
from bench.emulator.versions import Version
from bench.emulator.versions_api import VersionsApi
from bench.lambda_limits import UNZIPPED_MAX_BYTES, ZIPPED_MAX_BYTES

if TYPE_CHECKING:
    from aiohttp import web

TAGGABLE_ARN = re.compile(
    r"^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d:\d{12}:"
    r"function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?$"
)
TAG_ARN_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
    r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)"
)



def _empty(status: int) -> web.Response:
    from aiohttp import web

    return web.Response(status=status)



def _zip_bytes(code: Any) -> bytes:
    if not isinstance(code, dict):
        raise invalid_param("Code must be an object with ZipFile.")
    if "S3Bucket" in code or "S3Key" in code or "S3ObjectVersion" in code:
        raise invalid_param(
            "S3 code locations are not emulated by the local Lambda: pass the deployment "
            "package inline as ZipFile (boto3: Code={'ZipFile': bytes}, CLI: --zip-file fileb://)."
        )
    if "ImageUri" in code:
        raise invalid_param("Container images are not emulated by the local Lambda: use a zip.")
    if "ZipFile" not in code:
        raise invalid_param("Please provide a source for function code: Code.ZipFile.")
    try:
        return base64.b64decode(code["ZipFile"], validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise invalid_param(BAD_ZIP) from exc


class LambdaApi:
    def __init__(
        self,
        registry: Registry,
        sandboxes: Sandboxes,
        *,
        functions_dir: Path,
        account: AccountSettings | None = None,
    ) -> None:
        self.registry = registry
        self.sandboxes = sandboxes
        self.functions_dir = functions_dir
        self.account = account or AccountSettings()
        self.invoker = Invoker(registry, sandboxes, UnreservedPool(self.account))
        self.code_urls = CodeUrls(self._package_path)
        self.function_urls = FunctionUrls(registry, self.invoker, self._fn)
        self.versions = VersionsApi(registry, self._fn, self._published)
        self.provisioned = ProvisionedApi(registry, self._fn, sandboxes)
        self.event_configs = EventConfigApi(
            self.invoker.events,
            self._fn,
            lambda ref: registry.arn(parse_ref(ref)[0], "$LATEST"),
        )

    def routes(self) -> list[tuple[str, str, Any, str]]:
        """(method, path, handler, operation name) for the server's router."""
        fn = "/2015-03-31/functions/{FunctionName}"
        return [
            ("POST", "/2015-03-31/functions", self.create_function, "CreateFunction"),
            ("GET", "/2015-03-31/functions", self.list_functions, "ListFunctions"),
            ("GET", "/2015-03-31/functions/", self.list_functions, "ListFunctions"),
            ("GET", fn, self.get_function, "GetFunction"),
            ("DELETE", fn, self.delete_function, "DeleteFunction"),
            ("GET", fn + "/configuration", self.get_configuration, "GetFunctionConfiguration"),
            (
                "PUT",
                fn + "/configuration",
                self.update_configuration,
                "UpdateFunctionConfiguration",
            ),
            ("PUT", fn + "/code", self.update_code, "UpdateFunctionCode"),
            ("POST", fn + "/invocations", self.invoke, "Invoke"),
            (
                "PUT",
                "/2017-10-31/functions/{FunctionName}/concurrency",
                self.put_concurrency,
                "PutFunctionConcurrency",
            ),
            (
                "GET",
                "/2019-09-30/functions/{FunctionName}/concurrency",
                self.get_concurrency,
                "GetFunctionConcurrency",
            ),
            (
                "DELETE",
                "/2017-10-31/functions/{FunctionName}/concurrency",
                self.delete_concurrency,
                "DeleteFunctionConcurrency",
            ),
            ("POST", "/2017-03-31/tags/{Resource}", self.tag_resource, "TagResource"),
            ("DELETE", "/2017-03-31/tags/{Resource}", self.untag_resource, "UntagResource"),
            ("GET", "/2017-03-31/tags/{Resource}", self.list_tags, "ListTags"),
            ("GET", "/2016-08-19/account-settings", self.account_settings, "GetAccountSettings"),
            ("GET", "/2016-08-19/account-settings/", self.account_settings, "GetAccountSettings"),
            *self.versions.routes(),
            *self.provisioned.routes(),
            *self.event_configs.routes(),
            *self.function_urls.routes(),
            # Code.Location: presigned by the URL itself, so the server skips SigV4 there.
            ("GET", CODE_PREFIX + "{name}/{file}", self.code_urls.serve, "GetCodePackage"),
        ]

    def _package_path(self, name: str, sha256_hex: str) -> Path | None:
        if not self.registry.exists(name):
            return None
        return self.functions_dir / name / f"{sha256_hex}.zip"

    def _fn(self, request: web.Request, *, qualified_error: bool = False) -> Function:
        ref, qualifier = request.match_info["FunctionName"], request.query.get("Qualifier")
        validate.check_function_ref(ref, qualifier, self.registry.region)
        return self.registry.get(ref, qualifier=qualifier, qualified_error=qualified_error)

    def _published(self, fn: Function, version: Version) -> None:
        # With SnapStart the version waits for its snapshot (a state change only here:
        # restores are not emulated, see bench.emulator.snapstart).
        self.registry.version_ready(fn, version.number)

    def _version(self, request: web.Request, fn: Function) -> str:
        """The version the request's qualifier (in the ARN or `Qualifier`) names."""
        qualifier = parse_ref(request.match_info["FunctionName"])[1]
        return self.registry.version_of(fn, qualifier or request.query.get("Qualifier"))

    # --- functions -------------------------------------------------------------------

    async def create_function(self, request: web.Request) -> web.Response:
        data = await _body(request)
        name = validate.check_name(data.get("FunctionName"))
        if self.registry.exists(name):
            raise already_exists(name)
        role = validate.check_role(data.get("Role"))
        if data.get("PackageType", "Zip") != "Zip":
            raise invalid_param("Container images are not emulated by the local Lambda: use a zip.")
        if not data.get("Runtime") or not data.get("Handler"):
            raise invalid_param(
                "Runtime and Handler are mandatory parameters for functions created with "
                "deployment packages."
            )
        runtime = validate.check_runtime(data["Runtime"])
        validate.check_tag_count({}, data.get("Tags"))
        zip_bytes = _zip_bytes(data.get("Code"))
        memory = validate.check_memory(data.get("MemorySize", 128))
        timeout = validate.check_timeout(data.get("Timeout", 3))
        env = validate.check_environment(data.get("Environment"))
        archs = validate.check_architectures(data.get("Architectures"))
        logging_cfg = validate.check_logging(data.get("LoggingConfig"), name, None)
        ephemeral = self._ephemeral(data.get("EphemeralStorage"), 512)
        tracing = (data.get("TracingConfig") or {}).get("Mode", "PassThrough")
        snap = validate.check_snapstart(data.get("SnapStart", {"ApplyOn": "None"}), runtime)
        package = await asyncio.get_running_loop().run_in_executor(
            None, store_package, zip_bytes, self.functions_dir, name
        )
        if self.registry.exists(name):  # a concurrent create won while we unzipped
            raise already_exists(name)
        config = Config(
            revision_id=str(uuid.uuid4()),
            last_modified=now_stamp(),
            runtime=runtime,
            handler=str(data["Handler"]),
            role=role,
            description=str(data.get("Description", "")),
            memory_mb=memory,
            timeout_s=timeout,
            environment=env,
            architectures=archs,
            ephemeral_mb=ephemeral,
            tracing=tracing,
            snapstart=snap,
            logging=logging_cfg,
            code=package,
        )
        fn = self.registry.create(name, config, data.get("Tags") or {})
        return _json(self.registry.configuration(fn), 201)

    @staticmethod
    def _ephemeral(value: Any, default: int) -> int:
        if value is None:
            return default
        size = value.get("Size") if isinstance(value, dict) else None
        if not isinstance(size, int) or not 512 <= size <= 10240:
            raise invalid_param("EphemeralStorage.Size must be between 512 and 10240 MB.")
        return size

    async def get_function(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        version = self._version(request, fn)
        out: dict[str, Any] = {
            "Configuration": self.registry.configuration(fn, version=version),
            "Code": {
                "RepositoryType": "S3",
                "Location": self.code_urls.location(
                    request.host, fn.name, fn.latest.code.sha256_hex
                ),
            },
        }
        if fn.tags:
            out["Tags"] = dict(fn.tags)
        if fn.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
        return _json(out)

    async def get_configuration(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        return _json(self.registry.configuration(fn, version=self._version(request, fn)))

    async def list_functions(self, request: web.Request) -> web.Response:
        version = request.query.get("FunctionVersion")
        if version is not None and version != "ALL":
            raise validation(
                f"1 validation error detected: Value '{version}' at 'functionVersion' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ALL]"
            )
        try:
            max_items = int(request.query.get("MaxItems", "50"))
        except ValueError as exc:
            raise invalid_param("MaxItems must be an integer.") from exc
        max_items = max(1, min(max_items, 10_000))
        marker = request.query.get("Marker")
        functions = self.registry.all()
        if marker:
            functions = [fn for fn in functions if fn.name > marker]
        page = functions[:max_items]
        items = [self.registry.configuration(fn, listing=True) for fn in page]
        if version == "ALL":  # every version, each named by a qualified ARN
            for item in items:
                item["FunctionArn"] += ":$LATEST"
            for fn in page:
                items += [
                    self.registry.configuration(fn, listing=True, version=number)
                    for number in sorted(fn.versions, key=int)
                ]
        out: dict[str, Any] = {"Functions": items}
        if len(functions) > max_items:
            out["NextMarker"] = page[-1].name
        return _json(out)

    async def update_configuration(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        self.registry.check_updatable(fn)
        data = await _body(request)
        self._check_revision(fn, data)
        cfg = fn.latest
        changes: dict[str, Any] = {}
        if "Runtime" in data:
            changes["runtime"] = validate.check_runtime(data["Runtime"])
        if "Handler" in data:
            changes["handler"] = str(data["Handler"])
        if "Role" in data:
            changes["role"] = validate.check_role(data["Role"])
        if "Description" in data:
            changes["description"] = str(data["Description"])
        if "MemorySize" in data:
            changes["memory_mb"] = validate.check_memory(data["MemorySize"])
        if "Timeout" in data:
            changes["timeout_s"] = validate.check_timeout(data["Timeout"])
        if "Environment" in data:
            changes["environment"] = validate.check_environment(data["Environment"]) or {}
        if "EphemeralStorage" in data:
            changes["ephemeral_mb"] = self._ephemeral(data["EphemeralStorage"], cfg.ephemeral_mb)
        if "TracingConfig" in data:
            changes["tracing"] = (data["TracingConfig"] or {}).get("Mode", cfg.tracing)
        if "LoggingConfig" in data:
            changes["logging"] = validate.check_logging(data["LoggingConfig"], fn.name, cfg.logging)
        if "SnapStart" in data or "runtime" in changes:
            runtime = changes.get("runtime", cfg.runtime)
            wanted = data.get("SnapStart", {"ApplyOn": cfg.snapstart})
            changes["snapstart"] = validate.check_snapstart(wanted, runtime)
        self.registry.update(fn, **changes)
        return _json(self.registry.configuration(fn))

    async def update_code(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        self.registry.check_updatable(fn)
        data = await _body(request)
        self._check_revision(fn, data)
        zip_bytes = _zip_bytes(
            {k: v for k, v in data.items() if k.startswith(("S3", "Zip", "Image"))}
        )
        changes: dict[str, Any] = {}
        if "Architectures" in data:
            changes["architectures"] = validate.check_architectures(data["Architectures"])
        changes["code"] = await asyncio.get_running_loop().run_in_executor(
            None, store_package, zip_bytes, self.functions_dir, fn.name
        )
        self.registry.update(fn, **changes)
        return _json(self.registry.configuration(fn))

    @staticmethod
    def _check_revision(fn: Function, data: dict[str, Any]) -> None:
        wanted = data.get("RevisionId")
        if wanted and wanted != fn.latest.revision_id:
            raise AwsError(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id",
                412,
            )

    async def invoke(self, request: web.Request) -> web.Response:
        fn = self._fn(request, qualified_error=True)
        return await self.invoker.invoke(fn, request, self._version(request, fn))

    async def delete_function(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        qualifier = parse_ref(request.match_info["FunctionName"])[1]
        qualifier = qualifier or request.query.get("Qualifier")
        if qualifier is not None:  # one published version, not the function
            number = self.versions.delete(fn, qualifier)
            self.sandboxes.retire(fn.name, None, version=number)
            return _empty(204)
        self.registry.delete(fn)
        self.provisioned.forget(fn.name)
        self.invoker.events.forget(fn.name)
        self.sandboxes.retire(fn.name, None)
        return _empty(204)

    # --- concurrency -----------------------------------------------------------------

    def _unqualified(self, request: web.Request) -> None:
        _, qualifier = parse_ref(request.match_info["FunctionName"])
        if qualifier or request.query.get("Qualifier"):
            raise invalid_param(
                "This operation is permitted on Lambda functions only. Aliases and versions do "
                "not support this operation. Please specify either a function name or an "
                "unqualified function ARN."
            )

    async def put_concurrency(self, request: web.Request) -> web.Response:
        self._unqualified(request)
        fn = self._fn(request, qualified_error=True)
        data = await _body(request)
        value = data.get("ReservedConcurrentExecutions")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid_param("ReservedConcurrentExecutions must be an integer >= 0.")
        others = self.registry.reserved_total(excluding=fn.name)
        limit, minimum = self.account.concurrent_executions, self.account.min_unreserved
        if limit - others - value < minimum:
            raise AwsError(
                "InvalidParameterValueException",
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{minimum}].",
                400,
                body={
                    "message": "Specified ReservedConcurrentExecutions for function decreases "
                    "account's UnreservedConcurrentExecution below its minimum value of "
                    f"[{minimum}]."
                },
            )
        fn.reserved = value
        return _json({"ReservedConcurrentExecutions": value})

    async def get_concurrency(self, request: web.Request) -> web.Response:
        fn = self._fn(request)
        out = {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}
        return _json(out)

    async def delete_concurrency(self, request: web.Request) -> web.Response:
        self._unqualified(request)
        fn = self._fn(request)
        fn.reserved = None
        return _empty(204)

    # --- tags ------------------------------------------------------------------------

    def _tagged(self, request: web.Request) -> Function:
        arn = request.match_info["Resource"]
        if not TAGGABLE_ARN.match(arn):
            raise validation(
                f"1 validation error detected: Value '{arn}' at 'resource' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {TAG_ARN_PATTERN}"
            )
        name, qualifier = parse_ref(arn)
        if qualifier:
            raise invalid_param(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        try:
            return self.registry.get(name)
        except AwsError:
            raise not_found(arn) from None

    async def tag_resource(self, request: web.Request) -> web.Response:
        fn = self._tagged(request)
        tags = (await _body(request)).get("Tags")
        if not isinstance(tags, dict) or not tags:
            raise invalid_param("An error occurred and the request cannot be processed.")
        validate.check_tag_count(fn.tags, tags)
        fn.tags.update({str(k): str(v) for k, v in tags.items()})
        return _empty(204)

    async def untag_resource(self, request: web.Request) -> web.Response:
        fn = self._tagged(request)
        keys = request.query.getall("tagKeys", [])
        if not keys:
            raise validation(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy "
                "constraint: Member must not be null"
            )
        for key in keys:
            fn.tags.pop(key, None)
        return _empty(204)

    async def list_tags(self, request: web.Request) -> web.Response:
        return _json({"Tags": dict(self._tagged(request).tags)})

    # --- account ---------------------------------------------------------------------

    async def account_settings(self, request: web.Request) -> web.Response:
        functions = self.registry.all()
        reserved = self.registry.reserved_total()
        return _json(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80_530_636_800,
                    "CodeSizeUnzipped": UNZIPPED_MAX_BYTES,
                    "CodeSizeZipped": ZIPPED_MAX_BYTES,
                    "ConcurrentExecutions": self.account.concurrent_executions,
                    "UnreservedConcurrentExecutions": self.account.concurrent_executions
                    - reserved,
                },
                "AccountUsage": {
                    "TotalCodeSize": sum(fn.latest.code.size for fn in functions),
                    "FunctionCount": len(functions),
                },
            }
        )
