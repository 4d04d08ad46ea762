"""What an AWS error says: its code and message, read in one place.

botocore's ClientError carries the service's answer in `.response`; reading it by duck
typing keeps botocore out of the importers that only classify errors.
"""

from __future__ import annotations


def _error(exc: BaseException) -> dict[str, object]:
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return error if isinstance(error, dict) else {}


def error_code(exc: BaseException) -> str | None:
    """The service's error code (`ResourceNotFoundException`), None when there is none."""
    code = _error(exc).get("Code")
    return code if isinstance(code, str) and code else None


def error_message(exc: BaseException) -> str:
    """The service's error message, or the exception's text when it has none."""
    message = _error(exc).get("Message")
    return str(message) if message else str(exc)


def code_or_type(exc: BaseException) -> str:
    """The error code, or the exception's class name for errors without one."""
    return error_code(exc) or type(exc).__name__
