"""Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s), and the URLs served.

A function URL is an HTTP endpoint in front of one function. AWS serves it at
`https://<url-id>.lambda-url.<region>.on.aws/`; the local target serves it on its own
loopback port under `/_coldbench/url/<url-id>/`, the rest of the path being the request's
path. Each request becomes the payload format version 2.0 event, runs as a synchronous
invocation, and the function's answer becomes the HTTP response as Lambda maps it: a JSON
object with `statusCode` gives status, headers, cookies and body (base64-decoded when
`isBase64Encoded`); anything else is sent as a 200 application/json body. A function error
is a 502. AuthType AWS_IAM wants a SigV4 signature for the service `lambda`; NONE does not.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bench.emulator.auth import AuthFailure, SignedRequest, check_headers, check_signature
from bench.emulator.errors import AwsError, invalid_param
from bench.emulator.http_json import json_response as _json
from bench.emulator.http_json import read_body as _body
from bench.emulator.versions import LATEST

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.auth import Credentials
    from bench.emulator.functions import Function, Registry
    from bench.emulator.invoke import Invoker

PREFIX = "/_coldbench/url/"
BASE = "/2021-10-31/functions/{FunctionName}/url"
AUTH_TYPES = ("AWS_IAM", "NONE")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class UrlConfig:
    url_id: str
    function: Function  # the very function it was created on: a re-created one has none
    qualifier: str | None
    auth_type: str
    invoke_mode: str
    cors: dict[str, Any] | None
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)



class FunctionUrls:
    def __init__(
        self, registry: Registry, invoker: Invoker, fn_of: Callable[[web.Request], Function]
    ) -> None:
        self.registry = registry
        self.invoker = invoker
        self.fn_of = fn_of
        self.by_id: dict[str, UrlConfig] = {}
        self.credentials: Credentials | None = None  # set by the server: AWS_IAM checks

    def routes(self) -> list[tuple[str, str, Any, str]]:
        return [
            ("POST", BASE, self.create, "CreateFunctionUrlConfig"),
            ("GET", BASE, self.get, "GetFunctionUrlConfig"),
            ("PUT", BASE, self.update, "UpdateFunctionUrlConfig"),
            ("DELETE", BASE, self.delete, "DeleteFunctionUrlConfig"),
            ("GET", BASE + "s", self.list, "ListFunctionUrlConfigs"),
            ("*", PREFIX + "{url_id}/{tail:.*}", self.serve, "InvokeFunctionUrl"),
        ]

    # -- the control plane -------------------------------------------------------------
    def _find(self, fn: Function, qualifier: str | None) -> UrlConfig | None:
        return next(
            (c for c in self.by_id.values() if c.function is fn and c.qualifier == qualifier),
            None,
        )

    def _describe(self, config: UrlConfig, host: str, *, modified: bool) -> dict[str, Any]:
        fn = config.function
        arn = fn.arn + (f":{config.qualifier}" if config.qualifier else "")
        out: dict[str, Any] = {
            "FunctionUrl": f"http://{host}{PREFIX}{config.url_id}/",
            "FunctionArn": arn,
            "AuthType": config.auth_type,
            "CreationTime": config.created,
            "InvokeMode": config.invoke_mode,
        }
        if config.cors is not None:
            out["Cors"] = config.cors
        if modified:
            out["LastModifiedTime"] = config.modified
        return out

    @staticmethod
    def _settings(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        auth = data.get("AuthType")
        if auth is None and creating:
            raise invalid_param("1 validation error detected: Value null at 'authType' failed "
                                "to satisfy constraint: Member must not be null")  # fmt: skip
        if auth is not None and auth not in AUTH_TYPES:
            raise invalid_param(f"1 validation error detected: Value '{auth}' at 'authType' "
                                "failed to satisfy constraint: Member must satisfy enum value "
                                "set: [NONE, AWS_IAM]")  # fmt: skip
        mode = data.get("InvokeMode")
        if mode is not None and mode not in INVOKE_MODES:
            raise invalid_param(f"InvokeMode {mode!r}: use BUFFERED or RESPONSE_STREAM.")
        return {"auth_type": auth, "invoke_mode": mode, "cors": data.get("Cors")}

    async def create(self, request: web.Request) -> web.Response:

        fn, qualifier = self.fn_of(request), request.query.get("Qualifier")
        if qualifier == LATEST:
            raise invalid_param("$LATEST is not supported for a function URL.")
        settings = self._settings(await _body(request), creating=True)
        if self._find(fn, qualifier) is not None:
            raise AwsError("ResourceConflictException",
                           f"Failed to create function url config for [functionArn = {fn.arn}]. "
                           "Error message:  FunctionUrlConfig exists for this Lambda function",
                           409)  # fmt: skip
        config = UrlConfig(
            url_id=secrets.token_hex(16),
            function=fn,
            qualifier=qualifier,
            auth_type=settings["auth_type"],
            invoke_mode=settings["invoke_mode"] or "BUFFERED",
            cors=settings["cors"],
        )
        self.by_id[config.url_id] = config
        return _json(self._describe(config, request.host, modified=False), 201)

    def _existing(self, request: web.Request) -> UrlConfig:
        fn, qualifier = self.fn_of(request), request.query.get("Qualifier")
        config = self._find(fn, qualifier)
        if config is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not "
                           "exist.", 404)  # fmt: skip
        return config

    async def get(self, request: web.Request) -> web.Response:
        return _json(self._describe(self._existing(request), request.host, modified=True))

    async def update(self, request: web.Request) -> web.Response:

        config = self._existing(request)
        settings = self._settings(await _body(request), creating=False)
        config.auth_type = settings["auth_type"] or config.auth_type
        config.invoke_mode = settings["invoke_mode"] or config.invoke_mode
        if settings["cors"] is not None:
            config.cors = settings["cors"]
        config.modified = _now()
        return _json(self._describe(config, request.host, modified=True))

    async def delete(self, request: web.Request) -> web.Response:
        from aiohttp import web

        self.by_id.pop(self._existing(request).url_id, None)
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        fn = self.fn_of(request)
        found = [self._describe(c, request.host, modified=True)
                 for c in self.by_id.values() if c.function is fn]  # fmt: skip
        return _json({"FunctionUrlConfigs": found})

    # -- the URL itself ----------------------------------------------------------------
    async def serve(self, request: web.Request) -> web.Response:
        from bench.emulator.invoke import CONTENTION_HEADER, QUEUED_HEADER, REQUEST_ID

        config = self.by_id.get(request.match_info["url_id"])
        live = config is not None and self._alive(config)
        if config is None or not live:
            return _json({"Message": "Forbidden"}, 403)
        body = await request.read()
        if config.auth_type == "AWS_IAM" and not self._signed(request, body):
            return _json({"Message": "Forbidden"}, 403)
        request_id = request.get(REQUEST_ID) or secrets.token_hex(16)
        event = _event(request, body, config, request_id)
        fn = config.function
        version = self.registry.version_of(fn, config.qualifier) if config.qualifier else LATEST
        spec = self.registry.spec(fn, version)
        try:
            result = await self.invoker.call(fn, spec, json.dumps(event).encode(), request_id,
                                             tail=False)  # fmt: skip
        except AwsError as exc:
            status = 429 if exc.status == 429 else 502
            message = "Rate Exceeded." if status == 429 else "Internal Server Error"
            response = _json({"Message": message}, status)
        else:
            response = _http_response(result.payload, result.function_error)
            if result.queued_ms is not None:
                response.headers[QUEUED_HEADER] = f"{result.queued_ms:.3f}"
            if result.contention is not None:
                response.headers[CONTENTION_HEADER] = ",".join(result.contention) or "none"
        response.headers["x-amzn-RequestId"] = request_id
        return response

    def _alive(self, config: UrlConfig) -> bool:
        """The function it was made for still exists (deleting a function deletes its URL)."""
        try:
            return self.registry.get(config.function.name) is config.function
        except AwsError:
            return False

    def _signed(self, request: web.Request, body: bytes) -> bool:
        if self.credentials is None:
            return False
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        path, _, query = request.raw_path.partition("?")
        try:
            auth = check_headers(headers, self.credentials, service="lambda")
            check_signature(SignedRequest(request.method, path, query, headers, body), auth,
                            self.credentials)  # fmt: skip
        except AuthFailure:
            return False
        return True


def _event(request: web.Request, body: bytes, config: UrlConfig, request_id: str) -> dict[str, Any]:
    """The payload format version 2.0 event of one request."""
    path = "/" + request.match_info.get("tail", "")
    raw_query = request.raw_path.partition("?")[2]
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    domain = request.host
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": config.url_id,
            "domainName": domain,
            "domainPrefix": config.url_id,
            "http": {
                "method": request.method,
                "path": path,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "sourceIp": request.remote or "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = text
    return event


def _http_response(payload: bytes, function_error: str | None) -> web.Response:
    """The function's answer as Lambda maps it onto the HTTP response."""
    from aiohttp import web

    if function_error:
        return _json({"Message": "Internal Server Error"}, 502)
    try:
        answer = json.loads(payload) if payload else None
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and "statusCode" in answer):
        return web.Response(body=payload, status=200, content_type="application/json")
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    raw = answer.get("body")
    data = b""
    if isinstance(raw, str):
        data = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
    response = web.Response(body=data, status=int(answer["statusCode"]), headers=headers)
    if "content-type" not in {k.lower() for k in headers}:
        response.content_type = "application/json"
    for cookie in answer.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response
