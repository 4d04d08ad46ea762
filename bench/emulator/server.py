"""The aiohttp application: SigV4 on every request, quota checks, routing, error shapes.

Requests carrying `X-Amz-Target: Logs_20140328.<Operation>` are CloudWatch Logs (JSON
protocol, POST /); everything else is routed as the Lambda REST API.

A request is refused on its headers alone when they already fail (no or unknown key,
wrong service in the scope, a date more than 5 minutes off, a declared length over the
limit): its body is never read and the connection is closed after the answer. Bodies of
requests whose signature is still unchecked are read a few at a time, so unauthenticated
uploads cannot make the endpoint hold more than MAX_UNVERIFIED_BODIES of them at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bench.emulator.auth import (
    UNKNOWN_KEY,
    AuthFailure,
    Credentials,
    SignedRequest,
    check_headers,
    check_signature,
)
from bench.emulator.code_url import PREFIX as CODE_PREFIX
from bench.emulator.errors import AwsError, logs_error, too_large, too_many_requests
from bench.emulator.function_urls import PREFIX as URL_PREFIX
from bench.emulator.grants import Grants, Session, access_key_of
from bench.emulator.invoke import REQUEST_ID

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.faults import FaultPlan
    from bench.emulator.lambda_api import LambdaApi
    from bench.emulator.logs_api import LogsApi
    from bench.emulator.quota import QuotaLimiter

log = logging.getLogger(__name__)

LOGS_PREFIX = "Logs_20140328."
LOGS_CONTENT_TYPE = "application/x-amz-json-1.1"
# Large enough for a 50 MB zip sent base64-encoded inside CreateFunction's JSON.
CLIENT_MAX_SIZE = 80 * 1024 * 1024
MAX_UNVERIFIED_BODIES = 4


def _error_response(exc: AwsError, *, logs: bool, request_id: str) -> web.Response:
    from aiohttp import web

    headers = {"x-amzn-RequestId": request_id, **exc.headers}
    if logs:
        body = {"__type": exc.code, "message": exc.message}
        return web.Response(
            body=json.dumps(body).encode(),
            status=exc.status,
            headers=headers,
            content_type=LOGS_CONTENT_TYPE,
        )
    headers["x-amzn-ErrorType"] = exc.code
    return web.Response(
        body=json.dumps(exc.body).encode(),
        status=exc.status,
        headers=headers,
        content_type="application/json",
    )


def _throttled(logs: bool) -> AwsError:
    if logs:
        return logs_error("ThrottlingException", "Rate exceeded")
    return too_many_requests("CallerRateLimitExceeded", "Rate exceeded.")


class _Front:
    """Everything every request goes through before and after its handler."""

    def __init__(
        self,
        logs_api: LogsApi,
        credentials: Credentials,
        quota: QuotaLimiter,
        faults: FaultPlan | None = None,
        *,
        grants: Grants | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.logs_api = logs_api
        self.credentials = credentials
        self.grants = grants
        self.region = region
        self.quota = quota
        self.faults = faults
        self.operations: dict[tuple[str, str], str] = {}
        self.body_slots = asyncio.Semaphore(MAX_UNVERIFIED_BODIES)

    async def logs_entry(self, request: web.Request) -> web.Response:
        from aiohttp import web

        operation = request.headers.get("X-Amz-Target", "").removeprefix(LOGS_PREFIX)
        raw = await request.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise logs_error("SerializationException", "Request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise logs_error("SerializationException", "Request body must be a JSON object.")
        # Off the event loop: a large FilterLogEvents must not stall running invocations.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, self.logs_api.handle, operation, data)
        return web.Response(body=json.dumps(result).encode(), content_type=LOGS_CONTENT_TYPE)

    def operation_of(self, request: web.Request, is_logs: bool) -> str | None:
        if is_logs:
            return request.headers["X-Amz-Target"].removeprefix(LOGS_PREFIX)
        route = request.match_info.route
        if route.resource is None:
            return None
        return self.operations.get((route.method, route.resource.canonical))

    async def authorise(self, request: web.Request, is_logs: bool) -> str:
        """Verify the signature and the quota; return the operation name.

        Header checks come first: a request they refuse is answered without its body.
        """
        from aiohttp import web

        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        # A function's own session credentials (bench.emulator.grants), or the endpoint's.
        access = access_key_of(next(iter(headers.get("authorization", ())), None))
        session = self.grants.session(access) if self.grants and access else None
        credentials = session.credentials if session is not None else self.credentials
        auth = check_headers(headers, credentials, service="logs" if is_logs else "lambda")
        path, _, query = request.raw_path.partition("?")
        operation = self.operation_of(request, is_logs)
        if operation is None:
            raise AwsError(
                "UnknownOperationException",
                f"The local Lambda does not implement {request.method} {path}.",
                404,
            )
        too_big = too_large(
            f"Request must be smaller than {CLIENT_MAX_SIZE} bytes for the {operation} operation"
        )
        if (request.content_length or 0) > CLIENT_MAX_SIZE:
            raise too_big
        async with self.body_slots:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge as exc:
                raise too_big from exc
        check_signature(SignedRequest(request.method, path, query, headers, body), auth,
                        credentials)
        if session is not None:
            self._check_session(session, headers, operation, request)
        if not self.quota.allow("logs" if is_logs else "lambda", operation):
            raise _throttled(is_logs)
        return operation

    def _check_session(
        self, session: Session, headers: dict[str, list[str]], operation: str,
        request: web.Request,
    ) -> None:
        """A function's credentials: its token, unexpired, and only what its role allows."""
        token = next(iter(headers.get("x-amz-security-token", ())), "")
        if not hmac.compare_digest(token, session.token):
            raise AuthFailure(UNKNOWN_KEY)
        if time.time() > session.expires:
            raise AuthFailure(("ExpiredTokenException",
                               "The security token included in the request is expired"))
        account = session.role_arn.split(":")[4]
        name = request.match_info.get("FunctionName", "*")
        arn = name if name.startswith("arn:") else (
            f"arn:aws:lambda:{self.region}:{account}:function:{name}"
        )
        if "Qualifier" in request.query:
            arn = f"{arn}:{request.query['Qualifier']}"
        action = "lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}"
        if operation != "Invoke" or not session.scope.permits(arn):
            message = (
                f"User: {session.principal} is not authorized to perform: {action} on "
                f"resource: {arn} because no identity-based policy allows the {action} action"
            )
            raise AwsError("AccessDeniedException", message, 403, body={"Message": message})

    async def __call__(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        from aiohttp import web

        if request.path.startswith(CODE_PREFIX):
            return await handler(request)  # presigned: the handler checks the URL's signature
        if request.path.startswith(URL_PREFIX):
            # A function URL: the handler checks SigV4 itself when its AuthType asks.
            request[REQUEST_ID] = str(uuid.uuid4())
            return await handler(request)
        request_id = str(uuid.uuid4())
        request[REQUEST_ID] = request_id  # Invoke runs the function under this id
        is_logs = request.headers.get("X-Amz-Target", "").startswith(LOGS_PREFIX)
        try:
            operation = await self.authorise(request, is_logs)
            injected = self.faults.error_for(operation) if self.faults else None
            if injected is not None:
                raise injected
            response = await (self.logs_entry(request) if is_logs else handler(request))
            if self.faults is not None and (delay := self.faults.delay_for(operation)) > 0:
                await asyncio.sleep(delay)  # done, but the answer comes late
        except AuthFailure as exc:
            error = AwsError(exc.code, exc.message, 403, body={"message": exc.message})
            response = _error_response(error, logs=is_logs, request_id=request_id)
        except AwsError as exc:
            response = _error_response(exc, logs=is_logs, request_id=request_id)
        except web.HTTPException:
            raise
        except Exception as exc:  # one broken request must not take the server down
            log.exception("internal error on %s %s", request.method, request.path)
            code = "ServiceUnavailableException" if is_logs else "ServiceException"
            body = {"Type": "Service", "Message": f"Internal error in the local emulator: {exc}"}
            error = AwsError(code, body["Message"], 500, body=body)
            response = _error_response(error, logs=is_logs, request_id=request_id)
        response.headers.setdefault("x-amzn-RequestId", request_id)
        if not request.content.is_eof():
            # Refused with its body unread: close the connection rather than read on.
            response.force_close()
        return response


def build_app(
    *,
    lambda_api: LambdaApi,
    logs_api: LogsApi,
    credentials: Credentials,
    quota: QuotaLimiter,
    faults: FaultPlan | None = None,
    grants: Grants | None = None,
    region: str = "us-east-1",
) -> web.Application:
    from aiohttp import web

    front = _Front(logs_api, credentials, quota, faults, grants=grants, region=region)
    lambda_api.function_urls.credentials = credentials
    app = web.Application(middlewares=[web.middleware(front)], client_max_size=CLIENT_MAX_SIZE)
    app.router.add_route("POST", "/", front.logs_entry)
    for method, path, handler, operation in lambda_api.routes():
        route = app.router.add_route(method, path, handler)
        canonical = route.resource.canonical if route.resource else path
        front.operations[(method, canonical)] = operation
    return app
