"""SigV4 verification: rebuild the canonical request and compare signatures.

Any region and the services "lambda" and "logs" are accepted in the credential scope;
the access key and the HMAC chain over the secret must match. Presigned URLs are not
supported (no SDK uses them for Lambda or Logs).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICES = frozenset({"lambda", "logs"})
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


def verify(req: SignedRequest, creds: Credentials) -> str:
    """Return the signed service name ("lambda" or "logs"), or raise AuthFailure."""
    auth = next(iter(req.headers.get("authorization", ())), None)
    if not auth:
        raise AuthFailure(MISSING)
    match = _AUTH_RE.match(auth.strip())
    if match is None:
        raise AuthFailure(INCOMPLETE)
    parts = match["cred"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthFailure(INCOMPLETE)
    access_key, date, region, service, _ = parts
    if not hmac.compare_digest(access_key, creds.access_key_id):
        raise AuthFailure(UNKNOWN_KEY)
    if service not in SERVICES:
        raise AuthFailure(BAD_SIGNATURE)
    amz_date = next(iter(req.headers.get("x-amz-date", ())), None)
    if amz_date is None or not amz_date.startswith(date):
        raise AuthFailure(BAD_SIGNATURE)
    signed_headers = match["signed"].split(";")
    if "host" not in signed_headers:
        raise AuthFailure(BAD_SIGNATURE)
    scope = f"{date}/{region}/{service}/aws4_request"
    key = _signing_key(creds.secret_access_key, date, region, service)
    for as_sent in (False, True):
        creq = canonical_request(req, signed_headers, query_as_sent=as_sent)
        digest = hashlib.sha256(creq.encode()).hexdigest()
        to_sign = "\n".join([ALGORITHM, amz_date, scope, digest])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, match["sig"]):
            return service
        if not req.raw_query:
            break
    raise AuthFailure(BAD_SIGNATURE)
