"""Golden shape checks against our Lambda API shapes (tests/data/aws-shapes/lambda.json).

Each scenario holds what AWS answered: status code, keys, error code and message pattern;
placeholder values are never compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

SHAPES = json.loads(
    (Path(__file__).parents[1] / "data" / "aws-shapes" / "lambda.json").read_text()
)
PLACEHOLDER = r"(\{[a-z]+\})"


def _response(scenario: str) -> dict[str, Any]:
    return SHAPES["responses"][scenario]


def _error(scenario: str) -> dict[str, Any]:
    return SHAPES["errors"][scenario]


def _keys(obj: dict[str, Any]) -> set[str]:
    return set(obj) - {"ResponseMetadata"}


def _as_regex(message: str) -> re.Pattern[str]:
    """A message pattern with its placeholders turned into wildcards: {account} is twelve
    digits, any other {word} any text."""
    pattern = "".join(
        (r"\d{12}" if part == "{account}" else ".+") if re.fullmatch(PLACEHOLDER, part)
        else re.escape(part)
        for part in re.split(PLACEHOLDER, message)
    )
    return re.compile(f"^{pattern}$")


def _assert_shape(response: dict[str, Any], expected: dict[str, Any]) -> None:
    assert response["ResponseMetadata"]["HTTPStatusCode"] == expected["status"]
    assert _keys(response) == set(expected["keys"])


def _assert_error_like(err: ClientError, expected: dict[str, Any]) -> None:
    response = err.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == expected["status"]
    assert response["Error"]["Code"] == expected["code"]
    message = response["Error"]["Message"]
    assert _as_regex(expected["message"]).match(message), message
    assert _keys(response) == set(expected["keys"])


def test_create_get_update_and_list_have_awss_keys(api: Any) -> None:
    created = api.create("golden-env", wait=False, MemorySize=256, Timeout=5,
                         Environment={"Variables": {}})
    _assert_shape(created, _response("create-function-with-environment"))
    created_plain = api.create("golden-plain", wait=False)
    _assert_shape(created_plain, _response("create-function"))

    api.wait_state("golden-env", "State", "Active")
    got = api.lam.get_function(FunctionName="golden-env")
    expected_get = _response("get-function")
    _assert_shape(got, expected_get)
    assert set(got["Code"]) == set(expected_get["nested_keys"]["Code"])
    assert set(got["Configuration"]) == set(expected_get["nested_keys"]["Configuration"])

    updated = api.lam.update_function_configuration(
        FunctionName="golden-env", Description="Changed-Description",
        Environment={"Variables": {"ENV_A": "a"}}, MemorySize=512,
    )
    _assert_shape(updated, _response("update-function-configuration"))
    api.wait_state("golden-env", "LastUpdateStatus", "Successful")
    code_updated = api.lam.update_function_code(FunctionName="golden-env",
                                                ZipFile=_zip_with("v2"))
    _assert_shape(code_updated, _response("update-function-code"))

    listing = api.lam.list_functions()
    expected_list = _response("list-functions")
    _assert_shape(listing, expected_list)
    env_item = next(f for f in listing["Functions"] if f["FunctionName"] == "golden-env")
    assert set(env_item) == set(expected_list["item_keys"]["Functions"])


def _zip_with(text: str) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", f"# {text}\ndef handler(e, c):\n    return e\n")
    return buf.getvalue()


def test_not_found_errors_match_aws(api: Any) -> None:
    for call, scenario in (
        ("delete_function", "delete-unknown-function"),
        ("get_function", "get-unknown-function"),
        ("get_function_configuration", "get-configuration-of-unknown-function"),
        ("get_function_concurrency", "get-concurrency-of-unknown-function"),
    ):
        with pytest.raises(ClientError) as err:
            getattr(api.lam, call)(FunctionName="nonexisting-fn")
        _assert_error_like(err.value, _error(scenario))
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="doesnotexist", Payload=b"{}")
    _assert_error_like(err.value, _error("invoke-unknown-function"))


def test_conflict_and_parameter_errors_match_aws(api: Any) -> None:
    api.create("golden-conflict")
    api.emulator.update_delay_s = 5.0  # the second update must land inside the first
    api.lam.update_function_configuration(FunctionName="golden-conflict", Timeout=9)
    with pytest.raises(ClientError) as err:
        api.lam.update_function_configuration(FunctionName="golden-conflict", Timeout=10)
    _assert_error_like(err.value, _error("update-while-update-in-progress"))

    cases = {
        "create-with-unknown-runtime": {"Runtime": "non-existent-runtime"},
        "create-with-uppercase-runtime": {"Runtime": "PYTHON3.9"},
        "create-with-broken-zip": {"Code": {"ZipFile": b"this is not a zip"}},
        "create-with-malformed-role": {"Role": "r1"},
        "create-with-two-architectures": {"Architectures": ["x86_64", "arm64"]},
        "create-with-uppercase-architecture": {"Architectures": ["X86_64"]},
    }
    for scenario, overrides in cases.items():
        with pytest.raises(ClientError) as err:
            api.create("golden-bad", wait=False, **overrides)
        _assert_error_like(err.value, _error(scenario))

    for runtime in ("python3.7", "nodejs14.x", "go1.x", "java8"):
        with pytest.raises(ClientError) as err:
            api.create("golden-old", wait=False, Runtime=runtime)
        _assert_error_like(err.value, _error(f"create-with-retired-runtime-{runtime}"))


def test_concurrency_and_tag_errors_match_aws(api: Any) -> None:
    api.create("golden-rc", wait=False)
    with pytest.raises(ClientError) as err:
        api.lam.put_function_concurrency(FunctionName="golden-rc",
                                         ReservedConcurrentExecutions=950)
    _assert_error_like(err.value, _error("reserve-beyond-unreserved-minimum"))

    arn = api.lam.get_function(FunctionName="golden-rc")["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn.replace("golden-rc", "doesnotexist"), Tags={"a": "b"})
    _assert_error_like(err.value, _error("tag-unknown-function"))
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn + ":v1", Tags={"a": "b"})
    _assert_error_like(err.value, _error("tag-qualified-arn"))
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn, Tags={})
    _assert_error_like(err.value, _error("tag-with-no-tags"))
    with pytest.raises(ClientError) as err:
        api.lam.untag_resource(Resource=arn, TagKeys=[])
    _assert_error_like(err.value, _error("untag-with-no-keys"))


def test_throttle_shape_matches_aws(api: Any) -> None:
    expected = _error("invoke-at-zero-reserved-concurrency")
    api.create("golden-zero")
    api.lam.put_function_concurrency(FunctionName="golden-zero", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="golden-zero", Payload=b"{}")
    _assert_error_like(err.value, expected)
    assert err.value.response["Reason"] == expected["reason"]
    event = api.lam.invoke(FunctionName="golden-zero", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202  # Lambda queues async events even at zero concurrency


def test_every_scenario_is_used_and_patterns_hold_their_own_examples() -> None:
    source = Path(__file__).read_text()
    for group in ("responses", "errors"):
        for scenario in SHAPES[group]:
            retired = scenario.startswith("create-with-retired-runtime-")
            named = "create-with-retired-runtime-{runtime}" if retired else scenario
            assert f'"{named}"' in source, f"{scenario} is in lambda.json but no test uses it"
    pattern = _as_regex(_error("get-unknown-function")["message"])
    assert pattern.match("Function not found: arn:aws:lambda:eu-west-1:123456789012:function:f")
    assert not pattern.match("Function not found: arn:aws:lambda:eu-west-1:1234:function:f")
    assert _as_regex(_error("create-with-malformed-role")["message"]).match(
        _error("create-with-malformed-role")["message"]
    ), "a literal {12} in a message is not a placeholder"
