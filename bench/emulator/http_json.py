"""JSON in and out of the emulator's REST routes, as Lambda's API answers and reads it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bench.emulator.errors import AwsError

if TYPE_CHECKING:
    from aiohttp import web


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    from aiohttp import web

    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is {}, anything else is refused as AWS does."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AwsError("SerializationException", "Request body is not valid JSON.", 400) from exc
    if not isinstance(data, dict):
        raise AwsError("SerializationException", "Request body must be a JSON object.", 400)
    return data
