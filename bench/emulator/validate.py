"""Checks on CreateFunction / UpdateFunctionConfiguration parameters, with AWS's messages."""

from __future__ import annotations

import json
import re
from typing import Any

from bench.emulator.errors import AwsError, invalid_param, validation

# The enum AWS lists in its error message (recorded 2026-01), in AWS's own order.
RUNTIMES = [
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java25",
    "python3.10",
    "python3.11",
    "java21",
    "ruby3.3",
    "ruby3.4",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "java17",
    "nodejs16.x",
    "dotnet10",
    "dotnet8",
    "java11",
    "dotnet6",
    "nodejs18.x",
    "provided.al2",
    "java8.al2",
]
# Past their "block function create/update" date: AWS refuses them with its own message.
BLOCKED_RUNTIMES = frozenset(
    {
        "python2.7",
        "python3.6",
        "python3.7",
        "python3.8",
        "python3.9",
        "nodejs",
        "nodejs4.3",
        "nodejs6.10",
        "nodejs8.10",
        "nodejs10.x",
        "nodejs12.x",
        "nodejs14.x",
        "nodejs16.x",
        "nodejs18.x",
        "nodejs20.x",  # block function create 2026-08-31
        "java8",
        "go1.x",
        "provided",
        "ruby2.5",
        "ruby2.7",
        "dotnetcore1.0",
        "dotnetcore2.0",
        "dotnetcore2.1",
        "dotnetcore3.1",
        "dotnet6",
    }
)
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
NAME_RE = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
ARCHITECTURES = ("x86_64", "arm64")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
MAX_ENV_BYTES = 4096


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise validation(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"
        )
    return name


def check_snapstart(value: Any, runtime: str) -> str:
    """SnapStart.ApplyOn, on a runtime that has SnapStart."""
    from bench.emulator import snapstart

    apply_on = value.get("ApplyOn") if isinstance(value, dict) else None
    if apply_on not in snapstart.APPLY_ON:
        raise validation(
            f"1 validation error detected: Value '{apply_on}' at 'snapStart.applyOn' failed "
            "to satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]"
        )
    if apply_on == "PublishedVersions" and not snapstart.supported(runtime):
        raise invalid_param(
            f"{runtime} is not supported for SnapStart enabled functions. SnapStart supports "
            "java11 and later, python3.12 and later and dotnet8 and later."
        )
    return str(apply_on)


def check_runtime(runtime: Any) -> str:
    if runtime in BLOCKED_RUNTIMES:
        raise invalid_param(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating "
            "AWS Lambda functions. We recommend you use a supported runtime while creating or "
            "updating functions."
        )
    if runtime not in RUNTIMES:
        raise invalid_param(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(RUNTIMES)}] or be a valid ARN"
        )
    return str(runtime)


def check_role(role: Any) -> str:
    if not isinstance(role, str) or not re.fullmatch(ROLE_PATTERN, role):
        raise validation(
            f"1 validation error detected: Value '{role}' at 'role' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {ROLE_PATTERN}"
        )
    return role


def check_memory(memory: Any) -> int:
    if not isinstance(memory, int) or isinstance(memory, bool):
        raise invalid_param(f"'MemorySize' value {memory!r} is not an integer.")
    if memory < 128:
        raise invalid_param(
            f"'MemorySize' value failed to satisfy constraint: Member must have value greater "
            f"than or equal to 128 (got {memory})"
        )
    if memory > 10240:
        raise invalid_param(
            f"'MemorySize' value failed to satisfy constraint: Member must have value less "
            f"than or equal to 10240 (got {memory})"
        )
    return memory


def check_timeout(timeout: Any) -> int:
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 900:
        raise invalid_param(
            f"'Timeout' value {timeout!r} failed to satisfy constraint: Member must have value "
            "between 1 and 900 seconds"
        )
    return timeout


def check_environment(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    variables = env.get("Variables", {}) if isinstance(env, dict) else None
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise invalid_param("Environment.Variables must map strings to strings.")
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise invalid_param(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: " + measured
        )
    return dict(variables)


def check_architectures(archs: Any) -> tuple[str, ...]:
    if archs is None:
        return ("x86_64",)
    if not isinstance(archs, list) or len(archs) != 1:
        raise validation(
            f"1 validation error detected: Value '[{', '.join(map(str, archs or []))}]' at "
            "'architectures' failed to satisfy constraint: Member must have length less than "
            "or equal to 1"
        )
    if archs[0] not in ARCHITECTURES:
        raise validation(
            f"1 validation error detected: Value '[{archs[0]}]' at 'architectures' failed to "
            "satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value "
            "set: [x86_64, arm64], Member must not be null]"
        )
    return (archs[0],)


def check_logging(logging: Any, name: str, current: dict[str, str] | None) -> dict[str, str]:
    """Merge a LoggingConfig request into the current one; JSON adds the two log levels."""
    merged = dict(current or {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"})
    if logging is None:
        return merged
    if not isinstance(logging, dict):
        raise invalid_param("LoggingConfig must be an object.")
    fmt = logging.get("LogFormat", merged["LogFormat"])
    if fmt not in ("Text", "JSON"):
        raise invalid_param(f"LoggingConfig.LogFormat must be Text or JSON, not {fmt!r}.")
    merged["LogFormat"] = fmt
    if logging.get("LogGroup"):
        merged["LogGroup"] = str(logging["LogGroup"])
    for key in ("ApplicationLogLevel", "SystemLogLevel"):
        if key in logging:
            if fmt != "JSON":
                raise invalid_param(
                    f"LoggingConfig.{key} requires LogFormat JSON; set LogFormat to JSON first."
                )
            if logging[key] not in LOG_LEVELS:
                raise invalid_param(f"LoggingConfig.{key} must be one of {', '.join(LOG_LEVELS)}.")
            merged[key] = logging[key]
    if fmt == "JSON":
        merged.setdefault("ApplicationLogLevel", "INFO")
        merged.setdefault("SystemLogLevel", "INFO")
    else:
        merged.pop("ApplicationLogLevel", None)
        merged.pop("SystemLogLevel", None)
    return merged


# Lambda parses Invoke payloads with Jackson and words its errors so; the tail names the
# place, with the source redacted as AWS now does.
_JACKSON_VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_JACKSON_AT = (
    "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
    "line: {line}, column: {column}]"
)
_TOKEN_END = frozenset(" \t\r\n,:[]{}\"'")
_TOKEN_SHOWN = 256  # Jackson cuts a long unrecognized token off with "..."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


def _jackson_message(text: str, exc: ValueError) -> str:
    pos = getattr(exc, "pos", 0) or 0
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 2
    where = _JACKSON_AT.format(line=line, column=column)
    if pos >= len(text):
        return "Unexpected end-of-input: expected a valid value" + where
    char = text[pos]
    reason = str(getattr(exc, "msg", exc))
    if char.isalpha() and reason.startswith(("Expecting value", "Non-standard")):
        end = pos
        while end < len(text) and text[end] not in _TOKEN_END:
            end += 1
        where = _JACKSON_AT.format(line=line, column=column + end - pos)
        token = text[pos:end]
        if len(token) > _TOKEN_SHOWN:
            token = token[:_TOKEN_SHOWN] + "..."
        return f"Unrecognized token '{token}': was expecting {_JACKSON_VALUES}" + where
    head = f"Unexpected character ('{char}' (code {ord(char)}))"
    if reason.startswith("Expecting property name"):
        return head + ": was expecting double-quote to start field name" + where
    if reason.startswith("Expecting ',' delimiter"):
        kind = "Object" if text.rfind("{", 0, pos) > text.rfind("[", 0, pos) else "Array"
        return head + f": was expecting comma to separate {kind} entries" + where
    return head + f": expected a valid value {_JACKSON_VALUES}" + where


def check_payload(payload: bytes) -> bytes:
    """An Invoke payload as Lambda hands it on: `{}` when empty, else JSON or a 400."""
    if not payload.strip():
        return b"{}"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        kind = "start" if "start byte" in exc.reason else "middle"
        byte = payload[exc.start] if kind == "start" else payload[min(exc.end, len(payload) - 1)]
        raise _bad_payload(f"Invalid UTF-8 {kind} byte 0x{byte:02x}") from None
    try:
        # Jackson stops after the first value, so trailing text is not an error there.
        json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text.lstrip())
    except ValueError as exc:
        stripped = text.lstrip()
        raise _bad_payload(_jackson_message(stripped, exc)) from None
    return payload


def _bad_payload(detail: str) -> AwsError:
    message = f"Could not parse request body into json: Could not parse payload into json: {detail}"
    return AwsError("InvalidRequestContentException", message, 400)


# FunctionName and Qualifier as Lambda checks them, in its order: an ARN of another region
# is not found; then each value against its pattern and length (all failures in one
# ValidationException); then a qualifier in the ARN that contradicts `Qualifier`.
FUNCTION_REF_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
MAX_REF_LENGTH = 256  # NamespacedFunctionName in botocore's model
MAX_NAME_LENGTH = 64  # a bare name, as the API reference states
MAX_QUALIFIER_LENGTH = 128
_ARN_REGION = re.compile(r"^arn:[^:]*:lambda:(?P<region>[^:]+):")
MAX_TAGS = 50


def _constraint(value: str, member: str, constraint: str) -> str:
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must {constraint}"


def validation_errors(errors: list[str]) -> AwsError:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return validation(f"{count} validation {noun} detected: " + "; ".join(errors))


def check_function_ref(ref: str, qualifier: str | None, region: str) -> None:
    """Raise what Lambda answers for a FunctionName/Qualifier pair it refuses."""
    arn = _ARN_REGION.match(ref)
    if arn and arn["region"] != region:
        message = f"Functions from '{arn['region']}' are not reachable in this region ('{region}')"
        raise AwsError("ResourceNotFoundException", message, 404,
                       body={"Type": "User", "Message": message})
    errors = []
    if not re.fullmatch(FUNCTION_REF_PATTERN, ref):
        errors.append(_constraint(ref, "functionName",
                                  f"satisfy regular expression pattern: {FUNCTION_REF_PATTERN}"))
    limit = MAX_NAME_LENGTH if ":" not in ref else MAX_REF_LENGTH
    if len(ref) > limit:
        errors.append(_constraint(ref, "functionName",
                                  f"have length less than or equal to {limit}"))
    if qualifier is not None:
        if not re.fullmatch(QUALIFIER_PATTERN, qualifier):
            errors.append(_constraint(qualifier, "qualifier",
                                      f"satisfy regular expression pattern: {QUALIFIER_PATTERN}"))
        if not 1 <= len(qualifier) <= MAX_QUALIFIER_LENGTH:
            bound = ("greater than or equal to 1" if not qualifier
                     else f"less than or equal to {MAX_QUALIFIER_LENGTH}")
            errors.append(_constraint(qualifier, "qualifier", f"have length {bound}"))
    if errors:
        raise validation_errors(errors)
    in_ref = _qualifier_in(ref)
    if qualifier and in_ref and in_ref != qualifier:
        raise invalid_param(
            "The derived qualifier from the function name does not match the specified qualifier."
        )


def _qualifier_in(ref: str) -> str | None:
    parts = ref.split(":")
    if ref.startswith("arn:"):
        return parts[7] if len(parts) > 7 else None
    if len(parts) >= 3 and parts[1] == "function":
        return parts[3] if len(parts) > 3 else None
    return parts[1] if len(parts) == 2 else None


def check_tag_count(current: dict[str, str], adding: Any) -> None:
    """A function holds at most 50 tags, counting the ones it already has."""
    if isinstance(adding, dict) and len(set(current) | set(adding)) > MAX_TAGS:
        raise invalid_param("Number of tags exceeds resource tag limit.")
