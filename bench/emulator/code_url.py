"""GetFunction's Code.Location: a presigned http URL on the endpoint itself, as AWS's is
an expiring presigned URL to the deployment package.

The URL names the package by its SHA-256 and carries an expiry and an HMAC over both
under a key the emulator draws at start; it needs no SigV4 (a browser or curl can fetch
it) and stops working ten minutes after it was issued, as AWS's does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from aiohttp import web

PREFIX = "/_coldbench/code/"
EXPIRES_S = 600
_PATH = re.compile(r"^/_coldbench/code/(?P<name>[A-Za-z0-9_-]{1,64})/(?P<sha>[0-9a-f]{64})\.zip$")


class CodeUrls:
    def __init__(self, package_of: Callable[[str, str], Path | None]) -> None:
        """`package_of(function name, sha256 hex)` is the zip's path, or None if unknown."""
        self._key = secrets.token_bytes(32)
        self._package_of = package_of

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def location(self, host: str, name: str, sha256_hex: str, now: float | None = None) -> str:
        path = f"{PREFIX}{quote(name)}/{sha256_hex}.zip"
        expires = int(time.time() if now is None else now) + EXPIRES_S
        return f"http://{host}{path}?Expires={expires}&Signature={self._signature(path, expires)}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        match = _PATH.match(request.path)
        try:
            expires = int(request.query.get("Expires", ""))
        except ValueError:
            expires = -1
        signature = request.query.get("Signature", "")
        if match is None or not hmac.compare_digest(
            signature, self._signature(request.path, expires)
        ):
            return web.Response(status=403, text="AccessDenied: the signature does not match\n")
        if time.time() > expires:
            return web.Response(status=403, text="AccessDenied: Request has expired\n")
        package = self._package_of(match["name"], match["sha"])
        if package is None or not package.is_file():
            return web.Response(status=404, text="NoSuchKey: the package no longer exists\n")
        return web.FileResponse(package, headers={"Content-Type": "application/zip"})
