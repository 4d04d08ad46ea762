"""CloudWatch Logs details as AWS has them, checked with boto3 against botocore's model.

Limits and name constraints come from botocore's logs model (DescribeLimit 1..50,
LogGroupName 1..512 of [\\.\\-_/#A-Za-z0-9]); constraint failures are worded as Coral
words them ("1 validation error detected: Value ... at ... failed to satisfy constraint:
Member must ...") under InvalidParameterException.
"""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest
from botocore.exceptions import ClientError

MODEL = botocore.loaders.Loader().load_service_model("logs", "service-2")


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = err.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


def test_limits_are_refused_with_the_models_bounds(api: Any) -> None:
    maximum = MODEL["shapes"]["DescribeLimit"]["max"]
    with pytest.raises(ClientError) as err:
        api.logs.describe_log_groups(limit=maximum + 1)
    assert _error(err) == (400, "InvalidParameterException", (
        f"1 validation error detected: Value '{maximum + 1}' at 'limit' failed to satisfy "
        f"constraint: Member must have value less than or equal to {maximum}"))
    with pytest.raises(ClientError) as err:
        api.logs.describe_log_groups(limit=0)
    assert _error(err)[2].endswith("Member must have value greater than or equal to 1")


def test_log_group_names_up_to_512_characters(api: Any) -> None:
    shape = MODEL["shapes"]["LogGroupName"]
    longest = "/" + "g" * (shape["max"] - 1)
    api.logs.create_log_group(logGroupName=longest)
    found = api.logs.describe_log_groups(logGroupNamePrefix=longest)["logGroups"]
    assert [g["logGroupName"] for g in found] == [longest]
    with pytest.raises(ClientError) as err:
        api.logs.create_log_group(logGroupName=longest + "g")
    assert _error(err) == (400, "InvalidParameterException", (
        f"1 validation error detected: Value '{longest}g' at 'logGroupName' failed to "
        f"satisfy constraint: Member must have length less than or equal to {shape['max']}"))
    with pytest.raises(ClientError) as err:
        api.logs.create_log_group(logGroupName="bad name")
    assert _error(err)[2].endswith(
        "Member must satisfy regular expression pattern: " + shape["pattern"])


def test_log_group_name_pattern_is_a_case_sensitive_substring(api: Any) -> None:
    for name in ("DataLogs", "aws/DataLogs", "GroupDataLogs", "datalogs", "Groupdata"):
        api.logs.create_log_group(logGroupName=name)
    found = api.logs.describe_log_groups(logGroupNamePattern="DataLogs")["logGroups"]
    assert sorted(g["logGroupName"] for g in found) == ["DataLogs", "GroupDataLogs",
                                                         "aws/DataLogs"]
    # With a pattern, only these three keys come back (the model's documentation).
    assert all(set(g) == {"arn", "creationTime", "logGroupName"} for g in found)
    with pytest.raises(ClientError) as err:
        api.logs.describe_log_groups(logGroupNamePattern="Data", logGroupNamePrefix="Data")
    assert _error(err)[:2] == (400, "InvalidParameterException")


def test_deletion_protection(api: Any) -> None:
    api.logs.create_log_group(logGroupName="/kept", deletionProtectionEnabled=True)
    (group,) = api.logs.describe_log_groups(logGroupNamePrefix="/kept")["logGroups"]
    assert group["deletionProtectionEnabled"] is True
    assert "deletionProtectionEnabled" in MODEL["shapes"]["LogGroup"]["members"]
    with pytest.raises(ClientError) as err:
        api.logs.delete_log_group(logGroupName="/kept")
    assert _error(err)[:2] == (400, "ValidationException")
    api.logs.put_log_group_deletion_protection(logGroupIdentifier=group["logGroupArn"],
                                               deletionProtectionEnabled=False)
    api.logs.delete_log_group(logGroupName="/kept")
    assert api.logs.describe_log_groups(logGroupNamePrefix="/kept")["logGroups"] == []
    api.logs.create_log_group(logGroupName="/free")
    (free,) = api.logs.describe_log_groups(logGroupNamePrefix="/free")["logGroups"]
    assert free["deletionProtectionEnabled"] is False


def test_untag_log_group_and_delete_log_stream(api: Any) -> None:
    api.logs.create_log_group(logGroupName="/t", tags={"a": "1", "b": "2"})
    api.logs.untag_log_group(logGroupName="/t", tags=["a"])
    assert api.logs.list_tags_log_group(logGroupName="/t")["tags"] == {"b": "2"}
    api.logs.create_log_stream(logGroupName="/t", logStreamName="s1")
    api.logs.put_log_events(logGroupName="/t", logStreamName="s1",
                            logEvents=[{"timestamp": 1, "message": "m"}])
    api.logs.delete_log_stream(logGroupName="/t", logStreamName="s1")
    assert api.logs.describe_log_streams(logGroupName="/t")["logStreams"] == []
    (group,) = api.logs.describe_log_groups(logGroupNamePrefix="/t")["logGroups"]
    assert group["storedBytes"] == 0
    with pytest.raises(ClientError) as err:
        api.logs.delete_log_stream(logGroupName="/t", logStreamName="s1")
    assert _error(err) == (400, "ResourceNotFoundException",
                           "The specified log stream does not exist.")
