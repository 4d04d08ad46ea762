"""AWS error shapes, as the Lambda REST and CloudWatch Logs JSON protocols send them.

Handlers raise AwsError; the server turns it into the wire format of the protocol the
request came in on. Body members and their capitalisation follow what real AWS sends
(tests/data/aws-shapes/lambda.json holds them): Lambda's ResourceNotFoundException carries
"Message", most other Lambda errors "message", and Logs errors `{"__type", "message"}`.
"""

from __future__ import annotations

from typing import Any

ARN_NOT_FOUND = "Function not found: {arn}"
IN_PROGRESS = (
    "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
)
STATE_CONFLICT = (
    "The operation cannot be performed at this time. "
    "The function is currently in the following state: {state}"
)


class EmulatorError(Exception):
    """The local Lambda cannot do what was asked (start, find a runtime, spawn a sandbox):
    one line that names what to fix. The emulator knows nothing of the harness; the
    harness maps this to its own errors where it starts the target (bench.target)."""


class EmulatorConfigError(EmulatorError):
    """An option of the local Lambda that cannot work (a --fault spec, say)."""


class AwsError(Exception):
    """An error response. `body` holds the protocol-specific members besides the code."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.body = body if body is not None else {"Type": "User", "message": message}
        self.headers = headers or {}


# --- Lambda (REST-JSON: error code in the x-amzn-ErrorType header) ---------------------


def not_found(arn: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        ARN_NOT_FOUND.format(arn=arn),
        404,
        body={"Type": "User", "Message": ARN_NOT_FOUND.format(arn=arn)},
    )


def invalid_param(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400)


def validation(message: str) -> AwsError:
    # AWS's ValidationException body has only the message; botocore shows no extra members.
    return AwsError("ValidationException", message, 400, body={"message": message})


def update_in_progress(arn: str) -> AwsError:
    return AwsError("ResourceConflictException", IN_PROGRESS.format(arn=arn), 409)


def state_conflict(state: str) -> AwsError:
    return AwsError("ResourceConflictException", STATE_CONFLICT.format(state=state), 409)


def already_exists(name: str) -> AwsError:
    return AwsError("ResourceConflictException", f"Function already exist: {name}", 409)


def too_many_requests(reason: str, message: str = "Rate Exceeded.") -> AwsError:
    return AwsError(
        "TooManyRequestsException",
        message,
        429,
        body={"Type": "User", "message": message, "Reason": reason},
    )


def too_large(message: str) -> AwsError:
    return AwsError("RequestEntityTooLargeException", message, 413, body={"message": message})


# --- CloudWatch Logs (JSON 1.1: `{"__type", "message"}`, always 400) -----------------------


def logs_error(code: str, message: str, status: int = 400) -> AwsError:
    return AwsError(code, message, status, body={"__type": code, "message": message})


def log_group_missing() -> AwsError:
    return logs_error("ResourceNotFoundException", "The specified log group does not exist.")


def log_stream_missing() -> AwsError:
    return logs_error("ResourceNotFoundException", "The specified log stream does not exist.")


def logs_invalid(message: str) -> AwsError:
    return logs_error("InvalidParameterException", message)
