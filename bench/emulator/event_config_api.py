"""Lambda REST handlers for a function's asynchronous-invocation settings:
Put/Get/Update/Delete/ListFunctionEventInvokeConfig (botocore: 2019-09-25 URIs).

The settings live in the EventQueue that applies them; only $LATEST exists locally, so
a function has at most one configuration, named by its `:$LATEST` ARN as on AWS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bench.emulator.errors import AwsError
from bench.emulator.events import EventInvokeConfig, EventQueue, no_config
from bench.emulator.http_json import json_response as _json
from bench.emulator.http_json import read_body as _body

if TYPE_CHECKING:
    from aiohttp import web

    from bench.emulator.functions import Function

Handler = Callable[["web.Request"], Awaitable["web.Response"]]
FunctionOf = Callable[["web.Request"], "Function"]
BASE = "/2019-09-25/functions/{FunctionName}/event-invoke-config"




class EventConfigApi:
    def __init__(
        self, queue: EventQueue, function_of: FunctionOf, latest_arn: Callable[[str], str]
    ) -> None:
        self.queue = queue
        self.function_of = function_of
        self.latest_arn = latest_arn  # FunctionName as given -> its `:$LATEST` ARN

    def routes(self) -> list[tuple[str, str, Handler, str]]:
        return [
            ("PUT", BASE, self.put, "PutFunctionEventInvokeConfig"),
            ("POST", BASE, self.update, "UpdateFunctionEventInvokeConfig"),
            ("GET", BASE, self.get, "GetFunctionEventInvokeConfig"),
            ("DELETE", BASE, self.delete, "DeleteFunctionEventInvokeConfig"),
            ("GET", BASE + "/list", self.list, "ListFunctionEventInvokeConfigs"),
        ]

    @staticmethod
    def _arn(fn: Function) -> str:
        return f"{fn.arn}:$LATEST"

    def _existing(self, fn: Function) -> EventInvokeConfig:
        config = self.queue.configs.get(fn.name)
        if config is None:
            raise no_config(self._arn(fn))
        return config

    async def put(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        config = EventInvokeConfig().merged(await _body(request), replace=True)
        self.queue.configs[fn.name] = config
        return _json(config.view(self._arn(fn)))

    async def update(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        data = await _body(request)
        config = self._existing(fn).merged(data, replace=False)
        self.queue.configs[fn.name] = config
        return _json(config.view(self._arn(fn)))

    async def get(self, request: web.Request) -> web.Response:
        try:
            fn = self.function_of(request)
        except AwsError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            # AWS answers for a missing function as for a function without settings.
            raise no_config(self.latest_arn(request.match_info["FunctionName"])) from None
        return _json(self._existing(fn).view(self._arn(fn)))

    async def delete(self, request: web.Request) -> web.Response:
        from aiohttp import web

        fn = self.function_of(request)
        self._existing(fn)
        self.queue.forget(fn.name)
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        fn = self.function_of(request)
        config = self.queue.configs.get(fn.name)
        items = [config.view(self._arn(fn))] if config is not None else []
        return _json({"FunctionEventInvokeConfigs": items})
