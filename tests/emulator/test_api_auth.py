"""SigV4: only requests signed with the emulator's own credentials get through."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.emulator.auth import AuthFailure, Credentials, SignedRequest, verify

CREDS = Credentials("AKIATESTTESTTESTTEST", "s3cr3t/with+odd=chars")


def _client(emulator: Any, service: str, *, key: str | None = None, secret: str | None = None):
    session = boto3.Session(
        aws_access_key_id=key or emulator.access_key_id,
        aws_secret_access_key=secret or emulator.secret_access_key,
        region_name=emulator.region,
    )
    return session.client(
        service, endpoint_url=emulator.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _raw(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
         data: bytes | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def test_unsigned_lambda_request_gets_403_in_lambda_shape(api_emulator: Any) -> None:
    status, headers, body = _raw(f"{api_emulator.endpoint_url}/2015-03-31/functions")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert body == {"message": "Missing Authentication Token"}


def test_unsigned_logs_request_gets_403_in_logs_shape(api_emulator: Any) -> None:
    status, _, body = _raw(
        api_emulator.endpoint_url + "/",
        method="POST",
        headers={"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                 "Content-Type": "application/x-amz-json-1.1"},
        data=b"{}",
    )
    assert status == 403
    assert body["__type"] == "MissingAuthenticationTokenException"


def test_wrong_secret_is_rejected_for_lambda_and_logs(api_emulator: Any) -> None:
    with pytest.raises(ClientError) as lam_err:
        _client(api_emulator, "lambda", secret="not-the-secret").list_functions()
    assert lam_err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert lam_err.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as logs_err:
        _client(api_emulator, "logs", secret="not-the-secret").describe_log_groups()
    assert logs_err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert logs_err.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_unknown_access_key_is_rejected(api_emulator: Any) -> None:
    with pytest.raises(ClientError) as err:
        _client(api_emulator, "lambda", key="AKIAUNKNOWNUNKNOWN00").list_functions()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_a_signed_request_with_a_tampered_body_is_rejected(api_emulator: Any) -> None:
    request = AWSRequest(
        method="POST",
        url=f"{api_emulator.endpoint_url}/",
        data=b'{"logGroupNamePrefix": "a"}',
        headers={"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                 "Content-Type": "application/x-amz-json-1.1"},
    )
    creds = BotoCredentials(api_emulator.access_key_id, api_emulator.secret_access_key)
    SigV4Auth(creds, "logs", api_emulator.region).add_auth(request)
    headers = dict(request.headers.items())
    ok_status, _, _ = _raw(request.url, method="POST", headers=headers, data=request.body)
    assert ok_status == 200
    bad_status, _, body = _raw(
        request.url, method="POST", headers=headers, data=b'{"logGroupNamePrefix": "b"}'
    )
    assert bad_status == 403
    assert body["__type"] == "InvalidSignatureException"


def test_arn_in_path_and_repeated_query_keys_verify(api: Any) -> None:
    api.create("signed-paths")
    arn = api.lam.get_function(FunctionName="signed-paths")["Configuration"]["FunctionArn"]
    api.lam.tag_resource(Resource=arn, Tags={"a": "1", "b": "2", "c": "3"})
    api.lam.untag_resource(Resource=arn, TagKeys=["a", "b"])
    assert api.lam.list_tags(Resource=arn)["Tags"] == {"c": "3"}


def _signed(method: str, path: str, query: str, body: bytes, *, region: str, service: str,
            secret: str = CREDS.secret_access_key) -> SignedRequest:
    url = f"http://127.0.0.1:9/{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(BotoCredentials(CREDS.access_key_id, secret), service, region).add_auth(request)
    prepared = request.prepare()
    headers: dict[str, list[str]] = {"host": ["127.0.0.1:9"]}
    for name, value in prepared.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    raw_path, _, raw_query = prepared.url.split("127.0.0.1:9", 1)[1].partition("?")
    return SignedRequest(method, raw_path, raw_query, headers, body)


segment = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#\x00"),
                  min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    path=st.lists(segment, min_size=1, max_size=3),
    query=st.dictionaries(st.text(alphabet="abcXYZ_-", min_size=1, max_size=5), segment,
                          max_size=3),
    body=st.binary(max_size=64),
    region=st.sampled_from(["us-east-1", "eu-central-1", "ap-south-2"]),
    service=st.sampled_from(["lambda", "logs"]),
)
def test_verify_accepts_what_botocore_signs_and_nothing_else(
    path: list[str], query: dict[str, str], body: bytes, region: str, service: str
) -> None:
    from urllib.parse import quote, urlencode

    encoded_path = "/".join(quote(p, safe="") for p in path)
    encoded_query = urlencode(query)
    good = _signed("POST", encoded_path, encoded_query, body, region=region, service=service)
    assert verify(good, CREDS) == service
    forged = _signed(
        "POST", encoded_path, encoded_query, body, region=region, service=service, secret="x"
    )
    with pytest.raises(AuthFailure) as err:
        verify(forged, CREDS)
    assert err.value.code == "InvalidSignatureException"
    tampered = SignedRequest(good.method, good.raw_path, good.raw_query, good.headers,
                             body + b"!")
    with pytest.raises(AuthFailure):
        verify(tampered, CREDS)


def test_scope_for_another_service_is_refused() -> None:
    request = _signed("GET", "x", "", b"", region="us-east-1", service="s3")
    with pytest.raises(AuthFailure):
        verify(request, CREDS)
