"""SigV4 verification: rebuild the canonical request and compare signatures.

Two steps, so a request whose headers already fail is refused before its body is read:
`check_headers` parses the Authorization header and checks what needs no body (the
access key, the credential scope's service for the route, X-Amz-Date within five
minutes of now, as AWS allows); `check_signature` then recomputes the HMAC over the
canonical request, body included. Any region is accepted in the scope. Presigned URLs
are not supported (no SDK uses them for Lambda or Logs).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICES = frozenset({"lambda", "logs"})
MAX_SKEW_S = 300  # AWS refuses a request dated more than 5 minutes from its own clock
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
# Messages as AWS sends them for each way a signature can be wrong.
MISSING = ("MissingAuthenticationTokenException", "Missing Authentication Token")
UNKNOWN_KEY = (
    "UnrecognizedClientException",
    "The security token included in the request is invalid.",
)
BAD_SIGNATURE = (
    "InvalidSignatureException",
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details.",
)
INCOMPLETE = (
    "IncompleteSignatureException",
    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
)




def _signature_error(message: str) -> tuple[str, str]:
    return ("InvalidSignatureException", message)


class AuthFailure(Exception):
    def __init__(self, pair: tuple[str, str]) -> None:
        super().__init__(pair[1])
        self.code, self.message = pair


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # as sent on the wire, percent-encoded, without the query string
    raw_query: str
    headers: Mapping[str, Iterable[str]]  # lower-case name -> every value sent
    body: bytes


@lru_cache(maxsize=64)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical_uri(raw_path: str) -> str:
    # Every service but S3 encodes the already-encoded path a second time.
    return quote(raw_path or "/", safe="/~")


def _canonical_query(raw_query: str, *, as_sent: bool = False) -> str:
    """Per the SigV4 rules; `as_sent` keeps each pair's bytes as the client sent them,
    which is what botocore signs (it matters only for odd encodings such as '+')."""
    if as_sent:
        pairs_sent = sorted(part.partition("=")[::2] for part in raw_query.split("&") if part)
        return "&".join(f"{k}={v}" for k, v in pairs_sent)
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        key, _, value = part.partition("=")
        pairs.append(
            (
                quote(unquote(key.replace("+", " ")), safe="-_.~"),
                quote(unquote(value.replace("+", " ")), safe="-_.~"),
            )
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    req: SignedRequest, signed_headers: list[str], *, query_as_sent: bool = False
) -> str:
    lines = []
    for name in signed_headers:
        values = req.headers.get(name)
        if values is None:
            raise AuthFailure(BAD_SIGNATURE)
        lines.append(f"{name}:" + ",".join(" ".join(v.split()) for v in values))
    payload_hash = next(iter(req.headers.get("x-amz-content-sha256", ())), None)
    if payload_hash is None or payload_hash != "UNSIGNED-PAYLOAD":
        payload_hash = hashlib.sha256(req.body).hexdigest()
    return "\n".join(
        [
            req.method,
            _canonical_uri(req.raw_path),
            _canonical_query(req.raw_query, as_sent=query_as_sent),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


@dataclass(frozen=True)
class Authorization:
    """What the Authorization and X-Amz-Date headers say, checked without the body."""

    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    amz_date: str
    signed_headers: list[str]
    signature: str


def _stamp(epoch_s: float) -> str:
    return time.strftime(AMZ_DATE_FORMAT, time.gmtime(epoch_s))


def _check_clock(amz_date: str, now: float) -> None:
    """AWS's two messages for a request dated outside now +- 5 minutes."""
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, AMZ_DATE_FORMAT))
    except ValueError:
        raise AuthFailure(BAD_SIGNATURE) from None
    if signed_at < now - MAX_SKEW_S:
        raise AuthFailure(
            _signature_error(
                f"Signature expired: {amz_date} is now earlier than "
                f"{_stamp(now - MAX_SKEW_S)} ({_stamp(now)} - 5 min.)"
            )
        )
    if signed_at > now + MAX_SKEW_S:
        raise AuthFailure(
            _signature_error(
                f"Signature not yet current: {amz_date} is still later than "
                f"{_stamp(now + MAX_SKEW_S)} ({_stamp(now)} + 5 min.)"
            )
        )


def check_headers(
    headers: Mapping[str, Iterable[str]],
    creds: Credentials,
    *,
    service: str | None = None,
    now: float | None = None,
) -> Authorization:
    """Everything that can be checked before the body is read; raise AuthFailure.

    `service` is the signing name the route requires ("lambda" or "logs"); None accepts
    either (unit tests of the signature alone).
    """
    auth = next(iter(headers.get("authorization", ())), None)
    if not auth:
        raise AuthFailure(MISSING)
    match = _AUTH_RE.match(auth.strip())
    if match is None:
        raise AuthFailure(INCOMPLETE)
    parts = match["cred"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthFailure(INCOMPLETE)
    access_key, date, region, scoped_service, _ = parts
    if not hmac.compare_digest(access_key, creds.access_key_id):
        raise AuthFailure(UNKNOWN_KEY)
    wanted = service or (scoped_service if scoped_service in SERVICES else "lambda")
    if scoped_service != wanted:
        raise AuthFailure(
            _signature_error(f"Credential should be scoped to correct service: '{wanted}'. ")
        )
    amz_date = next(iter(headers.get("x-amz-date", ())), None)
    if amz_date is None:
        raise AuthFailure(BAD_SIGNATURE)
    if not amz_date.startswith(date):
        raise AuthFailure(
            _signature_error(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        )
    _check_clock(amz_date, time.time() if now is None else now)
    signed_headers = match["signed"].split(";")
    if "host" not in signed_headers:
        raise AuthFailure(BAD_SIGNATURE)
    return Authorization(date, region, scoped_service, amz_date, signed_headers, match["sig"])


def check_signature(req: SignedRequest, auth: Authorization, creds: Credentials) -> None:
    """The HMAC over the canonical request (body included) must match; raise AuthFailure."""
    scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
    key = _signing_key(creds.secret_access_key, auth.date, auth.region, auth.service)
    for as_sent in (False, True):
        creq = canonical_request(req, auth.signed_headers, query_as_sent=as_sent)
        digest = hashlib.sha256(creq.encode()).hexdigest()
        to_sign = "\n".join([ALGORITHM, auth.amz_date, scope, digest])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, auth.signature):
            return
        if not req.raw_query:
            break
    raise AuthFailure(BAD_SIGNATURE)


def verify(
    req: SignedRequest, creds: Credentials, *, service: str | None = None, now: float | None = None
) -> str:
    """Both checks at once; return the signed service name ("lambda" or "logs")."""
    auth = check_headers(req.headers, creds, service=service, now=now)
    check_signature(req, auth, creds)
    return auth.service
