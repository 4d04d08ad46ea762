"""Function URLs on the local target over real HTTP: the control plane through boto3, the
URL with and without a SigV4 signature, the payload format version 2.0 event, and the
function's answer mapped onto the HTTP response."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

HANDLER = """\
import base64, json


def handler(event, context):
    if event.get("rawPath") == "/plain":
        return {"plain": True}
    if event.get("rawPath") == "/fail":
        raise RuntimeError("broken on purpose")
    return {"statusCode": 201, "headers": {"x-seen": event["version"]},
            "cookies": ["a=1"], "body": json.dumps(event)}
"""


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    from bench.emulator.app import Emulator

    with Emulator(state_dir=tmp_path / "state") as emulator:
        session = boto3.Session(
            aws_access_key_id=emulator.access_key_id,
            aws_secret_access_key=emulator.secret_access_key,
            region_name=emulator.region,
        )
        client = session.client("lambda", endpoint_url=emulator.endpoint_url)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("app.py", HANDLER)
        client.create_function(
            FunctionName="web", Runtime="python3.12", Handler="app.handler",
            Role=f"arn:aws:iam::{emulator.account_id}:role/web", Code={"ZipFile": buf.getvalue()},
        )  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName="web")
        yield emulator, session, client


def _signed(session: Any, region: str, url: str, body: bytes) -> urllib.request.Request:
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"content-type": "application/json"})  # fmt: skip
    SigV4Auth(session.get_credentials(), "lambda", region).add_auth(request)
    return urllib.request.Request(url, data=body, headers=dict(request.headers), method="POST")


def test_a_signed_request_reaches_the_function_as_a_v2_event(urls: tuple[Any, Any, Any]) -> None:
    emulator, session, client = urls
    created = client.create_function_url_config(FunctionName="web", AuthType="AWS_IAM")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert url.startswith(f"{emulator.endpoint_url}/_coldbench/url/") and url.endswith("/")
    assert client.get_function_url_config(FunctionName="web")["AuthType"] == "AWS_IAM"
    with urllib.request.urlopen(_signed(session, emulator.region, url + "orders?id=7&id=8",
                                        b'{"n": 1}')) as response:  # fmt: skip
        assert response.status == 201
        assert response.headers["x-seen"] == "2.0"
        assert response.headers["Set-Cookie"] == "a=1"
        request_id = response.headers["x-amzn-RequestId"]
        event = json.loads(response.read())
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/orders" and event["rawQueryString"] == "id=7&id=8"
    assert event["queryStringParameters"] == {"id": "7,8"}
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["requestId"] == request_id


def test_an_unsigned_request_to_an_iam_url_is_forbidden(urls: tuple[Any, Any, Any]) -> None:
    _emulator, _session, client = urls
    url = client.create_function_url_config(FunctionName="web", AuthType="AWS_IAM")["FunctionUrl"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"))
    assert caught.value.code == 403


def test_a_public_url_maps_plain_answers_and_errors(urls: tuple[Any, Any, Any]) -> None:
    _emulator, _session, client = urls
    url = client.create_function_url_config(FunctionName="web", AuthType="NONE")["FunctionUrl"]
    with urllib.request.urlopen(urllib.request.Request(url + "plain", method="GET")) as response:
        assert response.status == 200 and json.loads(response.read()) == {"plain": True}
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url + "fail", method="GET"))
    assert caught.value.code == 502
    assert json.loads(caught.value.read()) == {"Message": "Internal Server Error"}


def test_the_control_plane_refuses_duplicates_and_forgets_deleted_urls(
    urls: tuple[Any, Any, Any],
) -> None:
    _emulator, _session, client = urls
    url = client.create_function_url_config(FunctionName="web", AuthType="NONE")["FunctionUrl"]
    with pytest.raises(ClientError) as caught:
        client.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert caught.value.response["Error"]["Code"] == "ResourceConflictException"
    updated = client.update_function_url_config(FunctionName="web", AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == url
    assert len(client.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]) == 1
    client.delete_function(FunctionName="web")  # deleting the function deletes its URL
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"))
    assert gone.value.code == 403
    with pytest.raises(ClientError) as missing:
        client.get_function_url_config(FunctionName="web")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
