"""Golden shape checks against responses recorded from real AWS Lambda.

Compares keys, status codes, error codes and messages, never placeholder values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

RECORDED = Path(__file__).parents[1] / "data" / "aws-recorded"


def _recorded(file: str, test: str) -> dict[str, Any]:
    return json.loads((RECORDED / file).read_text())[test]["recorded-content"]


def _keys(obj: dict[str, Any]) -> set[str]:
    return set(obj) - {"ResponseMetadata"}


def _as_regex(recorded_message: str) -> re.Pattern[str]:
    """A recorded message with its placeholders (<region>, 1111...) turned into wildcards."""
    parts = re.split(r"(<[^>]+>|111111111111)", recorded_message)
    pattern = "".join(
        (r"\d{12}" if p == "111111111111" else ".+") if re.fullmatch(r"<[^>]+>|111111111111", p)
        else re.escape(p)
        for p in parts
    )
    return re.compile(f"^{pattern}$")


def _error_shape(err: ClientError) -> tuple[int, str, str, set[str]]:
    response = err.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
        _keys(response),
    )


def _assert_error_like(err: ClientError, recorded: dict[str, Any]) -> None:
    status, code, message, keys = _error_shape(err)
    assert status == recorded["ResponseMetadata"]["HTTPStatusCode"]
    assert code == recorded["Error"]["Code"]
    assert _as_regex(recorded["Error"]["Message"]).match(message), message
    assert keys == _keys(recorded)


def test_create_get_update_and_list_have_awss_keys(api: Any) -> None:
    life = _recorded("lambda-api.json", "TestLambdaFunction::test_function_lifecycle")
    zipfile_case = _recorded("lambda-api.json",
                             "TestLambdaFunction::test_lambda_code_location_zipfile")
    listing = _recorded("lambda-api.json", "TestLambdaFunction::test_list_functions")

    created = api.create("golden-env", wait=False, MemorySize=256, Timeout=5,
                         Environment={"Variables": {}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert _keys(created) == _keys(life["create_response"]["CreateFunctionResponse"])
    created_plain = api.create("golden-plain", wait=False)
    assert _keys(created_plain) == _keys(zipfile_case["create-response-zip-file"])

    api.wait_state("golden-env", "State", "Active")
    got = api.lam.get_function(FunctionName="golden-env")
    recorded_get = life["get_function_response"]
    assert _keys(got) == _keys(recorded_get)
    assert set(got["Code"]) == set(recorded_get["Code"])
    assert set(got["Configuration"]) == set(recorded_get["Configuration"])

    updated = api.lam.update_function_configuration(
        FunctionName="golden-env", Description="Changed-Description",
        Environment={"Variables": {"ENV_A": "a"}}, MemorySize=512,
    )
    assert _keys(updated) == _keys(life["update_func_conf_response"])
    api.wait_state("golden-env", "LastUpdateStatus", "Successful")
    code_updated = api.lam.update_function_code(FunctionName="golden-env",
                                                ZipFile=_zip_with("v2"))
    assert _keys(code_updated) == _keys(life["update_code_response"])

    listed = api.lam.list_functions()["Functions"]
    recorded_item = listing["list_default"]["Functions"][0]
    env_item = next(f for f in listed if f["FunctionName"] == "golden-env")
    assert set(env_item) == set(recorded_item)


def _zip_with(text: str) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", f"# {text}\ndef handler(e, c):\n    return e\n")
    return buf.getvalue()


def test_not_found_errors_match_aws(api: Any) -> None:
    for call in ("delete_function", "get_function", "get_function_configuration",
                 "get_function_concurrency"):
        recorded = _recorded(
            "lambda-api.json", f"TestLambdaFunction::test_ops_on_nonexisting_fn[{call}]"
        )["not_found_exception"]
        with pytest.raises(ClientError) as err:
            getattr(api.lam, call)(FunctionName="nonexisting-fn")
        _assert_error_like(err.value, recorded)
    invoke_recorded = _recorded("lambda-invoke.json", "TestLambdaFeatures::test_invoke_exceptions")
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="doesnotexist", Payload=b"{}")
    _assert_error_like(err.value, invoke_recorded["invoke_function_doesnotexist"])


def test_conflict_and_parameter_errors_match_aws(api: Any) -> None:
    conflict = _recorded("lambda-api.json",
                         "TestLambdaFunction::test_lambda_concurrent_config_updates")
    api.create("golden-conflict")
    api.emulator.update_delay_s = 5.0  # the second update must land inside the first
    api.lam.update_function_configuration(FunctionName="golden-conflict", Timeout=9)
    with pytest.raises(ClientError) as err:
        api.lam.update_function_configuration(FunctionName="golden-conflict", Timeout=10)
    _assert_error_like(err.value, conflict["update-during-in-progress-update-exc"])

    exceptions = _recorded("lambda-api.json", "TestLambdaFunction::test_create_lambda_exceptions")
    cases = {
        "invalid_runtime_exc": {"Runtime": "non-existent-runtime"},
        "uppercase_runtime_exc": {"Runtime": "PYTHON3.9"},
        "invalid_zip_exc": {"Code": {"ZipFile": b"this is not a zip"}},
        "invalid_role_arn_exc": {"Role": "r1"},
        "multiple_architectures": {"Architectures": ["x86_64", "arm64"]},
        "uppercase_architecture": {"Architectures": ["X86_64"]},
    }
    for key, overrides in cases.items():
        with pytest.raises(ClientError) as err:
            api.create("golden-bad", wait=False, **overrides)
        _assert_error_like(err.value, exceptions[key])

    for runtime in ("python3.7", "nodejs14.x", "go1.x", "java8"):
        recorded = _recorded(
            "lambda-api.json",
            "TestRuntimeValidation::test_create_deprecated_function_runtime_with_validation_"
            f"enabled[{runtime}]",
        )["deprecation_error"]
        with pytest.raises(ClientError) as err:
            api.create("golden-old", wait=False, Runtime=runtime)
        _assert_error_like(err.value, recorded)


def test_concurrency_and_tag_errors_match_aws(api: Any) -> None:
    limits = _recorded("lambda-api.json",
                       "TestLambdaReservedConcurrency::test_function_concurrency_limits")
    api.create("golden-rc", wait=False)
    with pytest.raises(ClientError) as err:
        api.lam.put_function_concurrency(FunctionName="golden-rc",
                                         ReservedConcurrentExecutions=950)
    _assert_error_like(err.value, limits["put_function_concurrency_account_limit_exceeded"])

    tags = _recorded("lambda-api.json", "TestLambdaTags::test_tag_exceptions")
    arn = api.lam.get_function(FunctionName="golden-rc")["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn.replace("golden-rc", "doesnotexist"), Tags={"a": "b"})
    _assert_error_like(err.value, tags["tag_lambda_doesnotexist"])
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn + ":v1", Tags={"a": "b"})
    _assert_error_like(err.value, tags["tag_lambda_qualifier_doesnotexist"])
    with pytest.raises(ClientError) as err:
        api.lam.tag_resource(Resource=arn, Tags={})
    _assert_error_like(err.value, tags["tag_empty_tags"])
    with pytest.raises(ClientError) as err:
        api.lam.untag_resource(Resource=arn, TagKeys=[])
    _assert_error_like(err.value, tags["untag_empty_keys"])


def test_throttle_shape_matches_aws(api: Any) -> None:
    recorded = _recorded("lambda-invoke.json",
                         "TestLambdaConcurrency::test_reserved_concurrency")["exc_no_cap_requestresponse"]
    api.create("golden-zero")
    api.lam.put_function_concurrency(FunctionName="golden-zero", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as err:
        api.lam.invoke(FunctionName="golden-zero", Payload=b"{}")
    _assert_error_like(err.value, recorded)
    assert err.value.response["Reason"] == recorded["Reason"]
    event = api.lam.invoke(FunctionName="golden-zero", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202  # Lambda queues async events even at zero concurrency
