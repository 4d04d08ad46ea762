"""Control-plane details as AWS has them: FunctionName/Qualifier checks in AWS's order,
the tag limit, and Code.Location as a presigned, expiring http URL the endpoint serves.

Facts come from tests/data/aws-shapes/facts.json (each entry names its source).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

FACTS = json.loads((Path(__file__).parents[1] / "data/aws-shapes/facts.json").read_text())


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = err.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- FunctionName and Qualifier -------------------------------------------------------


def test_a_function_name_that_fails_the_pattern_gets_the_recorded_message(api: Any) -> None:
    recorded = FACTS["invoke_function_name_pattern"]
    name = recorded["function_name"].replace("<region>", api.emulator.region)
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName=name, Payload=b"{}")
    expected = recorded["message"].replace("<partition>", "aws").replace(
        "<region>", api.emulator.region)
    assert _error(err) == (recorded["status"], recorded["code"], expected)


def test_a_qualifier_in_the_arn_that_contradicts_qualifier_is_refused(api: Any) -> None:
    api.create("qual")
    arn = api.lam.get_function(FunctionName="qual")["Configuration"]["FunctionArn"]
    recorded = FACTS["qualifier_mismatch"]
    for call in (
        lambda: api.lam.invoke(FunctionName=f"{arn}:$LATEST", Qualifier="live", Payload=b"{}"),
        lambda: api.lam.get_function(FunctionName="qual:$LATEST", Qualifier="live"),
        lambda: api.lam.get_function_configuration(FunctionName=f"{arn}:v1", Qualifier="v2"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == (recorded["status"], recorded["code"], recorded["message"])
    # Agreeing qualifiers are fine.
    same = api.lam.get_function(FunctionName=f"{arn}:$LATEST", Qualifier="$LATEST")
    assert same["Configuration"]["FunctionName"] == "qual"
    assert api.fake.specs == []  # nothing was invoked


def test_an_arn_of_another_region_is_not_reachable(api: Any) -> None:
    api.create("here")
    arn = api.lam.get_function(FunctionName="here")["Configuration"]["FunctionArn"]
    elsewhere = arn.replace(f":{api.emulator.region}:", ":eu-west-1:")
    recorded = FACTS["arn_of_another_region"]
    expected = recorded["message"].replace("<arn-region>", "eu-west-1").replace(
        "<region>", api.emulator.region)
    for call in (lambda: api.lam.get_function(FunctionName=elsewhere),
                 lambda: api.lam.invoke(FunctionName=elsewhere, Payload=b"{}")):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == (recorded["status"], recorded["code"], expected)
        assert err.value.response["Type"] == "User"


def test_lengths_and_several_errors_at_once(api: Any) -> None:
    long_name = "n" * 65
    with pytest.raises(ClientError) as err:
        api.lam.get_function(FunctionName=long_name)
    assert _error(err) == (400, "ValidationException", (
        f"1 validation error detected: Value '{long_name}' at 'functionName' failed to "
        "satisfy constraint: Member must have length less than or equal to 64"))
    with pytest.raises(ClientError) as err:
        api.lam.get_function(FunctionName="bad!name", Qualifier="no!")
    status, code, message = _error(err)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: Value 'bad!name' at "
                              "'functionName' failed to satisfy constraint")
    assert "; Value 'no!' at 'qualifier' failed to satisfy constraint: Member must satisfy " \
           "regular expression pattern: " in message


# --- tags -----------------------------------------------------------------------------


def test_more_than_50_tags_are_refused(api: Any) -> None:
    recorded = FACTS["too_many_tags"]
    many = {f"k{i}": "v" for i in range(recorded["limit"] + 1)}
    with pytest.raises(ClientError) as err:
        api.create("tagged", Tags=many)
    assert _error(err) == (recorded["status"], recorded["code"], recorded["message"])
    api.create("tagged", Tags={f"k{i}": "v" for i in range(recorded["limit"])})
    arn = api.lam.get_function(FunctionName="tagged")["Configuration"]["FunctionArn"]
    api.lam.tag_resource(Resource=arn, Tags={"k0": "replaced"})  # still 50: fine
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn, Tags={"one-more": "v"})
    assert _error(err) == (recorded["status"], recorded["code"], recorded["message"])
    assert len(api.lam.list_tags(Resource=arn)["Tags"]) == recorded["limit"]


# --- Code.Location --------------------------------------------------------------------


def test_code_location_is_a_presigned_http_url_the_endpoint_serves(api: Any,
                                                                   api_zip: Any) -> None:
    package = api_zip({"handler.py": "def handler(e, c):\n    return 'located'\n"})
    api.create("located", Code={"ZipFile": package})
    got = api.lam.get_function(FunctionName="located")
    location = got["Code"]["Location"]
    assert got["Code"]["RepositoryType"] == "S3"
    assert location.startswith(api.emulator.endpoint_url + "/")
    status, body = _fetch(location)  # no SigV4: the URL is its own credential
    assert status == 200 and body == package
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert digest == got["Configuration"]["CodeSha256"]

    parts = urlsplit(location)
    forged = location.replace(parts.query.split("Signature=")[1], "0" * 64)
    assert _fetch(forged)[0] == 403
    later = location.replace("Expires=", "Expires=9")  # a longer life breaks the signature
    assert _fetch(later)[0] == 403


def test_code_location_expires(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from types import SimpleNamespace

    from bench.emulator import code_url

    api.create("expiring")
    issued_at = time.time() - code_url.EXPIRES_S - 1
    # Only the URL's clock goes back: the request itself is signed at the real time.
    monkeypatch.setattr(code_url, "time", SimpleNamespace(time=lambda: issued_at))
    location = api.lam.get_function(FunctionName="expiring")["Code"]["Location"]
    monkeypatch.undo()
    status, body = _fetch(location)
    assert status == 403 and b"Request has expired" in body
    fresh = api.lam.get_function(FunctionName="expiring")["Code"]["Location"]
    assert _fetch(fresh)[0] == 200
