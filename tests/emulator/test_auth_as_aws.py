"""Auth as AWS does it: request dates, service scope per route, bodies of refused requests.

Messages are AWS's own (InvalidSignatureException, 403): "Signature expired: <date> is
now earlier than <now - 5 min> (<now> - 5 min.)", "Signature not yet current: <date> is
still later than <now + 5 min> (<now> + 5 min.)", "Credential should be scoped to correct
service: '<service>'. ".
"""

from __future__ import annotations

import concurrent.futures
import datetime
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from tests.emulator.served import serve

EXPIRED = re.compile(
    r"^Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) "
    r"\((\d{8}T\d{6}Z) - 5 min\.\)$"
)
NOT_YET = re.compile(
    r"^Signature not yet current: (\d{8}T\d{6}Z) is still later than (\d{8}T\d{6}Z) "
    r"\((\d{8}T\d{6}Z) \+ 5 min\.\)$"
)
BODY_MB = 70


def _stamp(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)


def _client(emulator: Any, service: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=emulator.access_key_id,
        aws_secret_access_key=emulator.secret_access_key,
        region_name=emulator.region,
    )
    return session.client(
        service, endpoint_url=emulator.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def skewed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """set(offset): botocore signs as if its clock were `offset` away from now."""
    import botocore.auth

    real = botocore.auth.get_current_datetime
    offset = [datetime.timedelta(0)]
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + offset[0])

    def set_offset(delta: datetime.timedelta) -> None:
        offset[0] = delta

    yield set_offset


@pytest.mark.parametrize("service", ["lambda", "logs"])
def test_a_request_signed_more_than_5_minutes_ago_is_expired(
    api_emulator: Any, skewed_clock: Any, service: str
) -> None:
    client = _client(api_emulator, service)
    call = client.list_functions if service == "lambda" else client.describe_log_groups
    skewed_clock(datetime.timedelta(minutes=-4))
    call()  # inside the window: accepted
    skewed_clock(datetime.timedelta(minutes=-6))
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "InvalidSignatureException"
    match = EXPIRED.match(error["Message"])
    assert match, error["Message"]
    signed, limit, now = (_stamp(g) for g in match.groups())
    assert now - limit == datetime.timedelta(minutes=5)
    assert signed < limit
    assert abs(now - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=30)


@pytest.mark.parametrize("service", ["lambda", "logs"])
def test_a_request_dated_more_than_5_minutes_ahead_is_not_yet_current(
    api_emulator: Any, skewed_clock: Any, service: str
) -> None:
    client = _client(api_emulator, service)
    call = client.list_functions if service == "lambda" else client.describe_log_groups
    skewed_clock(datetime.timedelta(minutes=4))
    call()
    skewed_clock(datetime.timedelta(minutes=6))
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "InvalidSignatureException"
    match = NOT_YET.match(error["Message"])
    assert match, error["Message"]
    signed, limit, now = (_stamp(g) for g in match.groups())
    assert limit - now == datetime.timedelta(minutes=5)
    assert signed > limit


def _signed_as(emulator: Any, service: str, *, logs_route: bool) -> tuple[int, dict[str, Any]]:
    """Send a request for one route, signed with the other service's name in its scope."""
    import json
    import urllib.error
    import urllib.request

    if logs_route:
        request = AWSRequest(
            method="POST", url=emulator.endpoint_url + "/", data=b"{}",
            headers={"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                     "Content-Type": "application/x-amz-json-1.1"},
        )
    else:
        request = AWSRequest(method="GET", url=emulator.endpoint_url + "/2015-03-31/functions")
    creds = BotoCredentials(emulator.access_key_id, emulator.secret_access_key)
    SigV4Auth(creds, service, emulator.region).add_auth(request)
    raw = urllib.request.Request(
        request.url, method=request.method, data=request.body or None,
        headers=dict(request.headers.items()),
    )
    try:
        with urllib.request.urlopen(raw, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_service_scope_is_checked_per_route(api_emulator: Any) -> None:
    status, body = _signed_as(api_emulator, "logs", logs_route=False)
    assert status == 403
    assert body == {"message": "Credential should be scoped to correct service: 'lambda'. "}
    status, body = _signed_as(api_emulator, "lambda", logs_route=True)
    assert status == 403
    assert body["__type"] == "InvalidSignatureException"
    assert body["message"] == "Credential should be scoped to correct service: 'logs'. "
    # The same requests signed for their own service go through.
    assert _signed_as(api_emulator, "lambda", logs_route=False)[0] == 200
    assert _signed_as(api_emulator, "logs", logs_route=True)[0] == 200


def _head(emulator_port: int, extra: str, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", emulator_port), timeout=10)
    sock.sendall(
        (f"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1:{emulator_port}\r\n"
         f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n").encode()
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_unauthenticated_70mb_bodies_are_refused_without_being_read(tmp_path: Path) -> None:
    """Against `bench emulator` itself: its RSS is the endpoint's alone."""
    with serve(tmp_path / "state") as server:
        port = int(server.exports["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        key = server.exports["AWS_ACCESS_KEY_ID"]
        stale = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
        refusals = {
            "": "Missing Authentication Token",
            (
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIANOTTHEKEY0000000/"
                f"{stale[:8]}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
                f"Signature={'0' * 64}\r\nX-Amz-Date: {stale}\r\n"
            ): "The security token included in the request is invalid.",
            (
                f"Authorization: AWS4-HMAC-SHA256 Credential={key}/{stale[:8]}/us-east-1/"
                f"lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}\r\n"
                f"X-Amz-Date: {stale}\r\n"
            ): "Signature expired: ",
        }
        chunk = b"x" * (1 << 20)
        before_kb = server.rss_kb()
        for headers, message in refusals.items():
            sock = _head(port, headers, BODY_MB << 20)
            with sock:
                sock.sendall(chunk)  # 1 MB of the 70 MB declared
                answer = _answer(sock)
                status_line = answer.split(b"\r\n", 1)[0]
                assert status_line == b"HTTP/1.1 403 Forbidden", answer[:200]
                assert b"Connection: close" in answer
                assert message.encode() in answer
        grown_mb = (server.rss_kb() - before_kb) / 1024
        # Three 70 MB bodies held in memory would add 210 MB; none of them was buffered.
        assert grown_mb < 20, f"the endpoint grew by {grown_mb:.0f} MB"


def test_a_declared_length_over_the_limit_is_refused_before_reading(api_emulator: Any) -> None:
    from bench.emulator.server import CLIENT_MAX_SIZE

    request = AWSRequest(method="POST", url=api_emulator.endpoint_url + "/2015-03-31/functions",
                         data=b"{}")
    creds = BotoCredentials(api_emulator.access_key_id, api_emulator.secret_access_key)
    SigV4Auth(creds, "lambda", api_emulator.region).add_auth(request)
    extra = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()
                    if k.lower() not in ("content-length", "content-type"))
    with _head(api_emulator.port, extra, CLIENT_MAX_SIZE + 1) as sock:
        sock.sendall(b"{}")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RequestEntityTooLargeException" in answer


def test_unverified_bodies_are_read_a_few_at_a_time(
    make_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one slot, a signed upload still in progress holds back the next body read."""
    import bench.emulator.server as server_module

    monkeypatch.setattr(server_module, "MAX_UNVERIFIED_BODIES", 1)
    api = make_api()
    emulator = api.emulator
    body = b'{"FunctionName": "slow"}'
    request = AWSRequest(method="POST", url=emulator.endpoint_url + "/2015-03-31/functions",
                         data=body)
    creds = BotoCredentials(emulator.access_key_id, emulator.secret_access_key)
    SigV4Auth(creds, "lambda", emulator.region).add_auth(request)
    extra = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()
                    if k.lower() not in ("content-length", "content-type"))
    slow = _head(emulator.port, extra, len(body))
    with slow, concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow.sendall(body[:5])  # the upload stalls with its slot taken
        # Poll until the slow request has taken the only slot.
        deadline = time.monotonic() + 10
        slots = emulator._runner.app.middlewares[0].body_slots
        while not slots.locked():
            assert time.monotonic() < deadline, "the slow upload never took its slot"
            time.sleep(0.01)
        pending = pool.submit(api.lam.list_functions)
        with pytest.raises(concurrent.futures.TimeoutError):
            pending.result(timeout=0.5)
        slow.sendall(body[5:])
        answer = _answer(slow)
        assert b"HTTP/1.1 400" in answer or b"HTTP/1.1 201" in answer, answer[:200]
        assert pending.result(timeout=10)["Functions"] is not None
