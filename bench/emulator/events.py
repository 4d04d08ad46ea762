"""Asynchronous (Event) invocations: Lambda's internal queue, its retries and their settings.

As the Lambda documentation describes it (invocation-async-error-handling):
- every attempt runs under the request id the 202 response returned;
- a function error (the handler's or the runtime's, timeouts included) is retried
  MaximumRetryAttempts times (default 2), one minute after the first attempt and two
  minutes after the second;
- a throttle (429) or a system error (the sandbox layer refusing) puts the event back in
  the queue, retried after 1 s, then twice as long each time, up to 5 minutes between;
- an event older than MaximumEventAgeInSeconds (default 6 hours) is dropped.

The settings are the function's EventInvokeConfig (PutFunctionEventInvokeConfig and
friends, handled here too). TIME_SCALE shrinks every delay and age alike, so tests can
watch a whole retry schedule in seconds while it keeps AWS's proportions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.emulator.contracts import FunctionSpec, Sandboxes, Throttled
from bench.emulator.errors import AwsError, EmulatorError, validation

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
ERROR_RETRY_DELAYS_S = (60.0, 120.0)  # after the first and the second attempt
THROTTLE_FIRST_DELAY_S = 1.0
THROTTLE_MAX_DELAY_S = 300.0
TIME_SCALE = 1.0

# (spec, reserved concurrency) of the function as it is now; None once it is deleted.
Resolver = Callable[[], "tuple[FunctionSpec, int | None] | None"]


def no_config(arn: str) -> AwsError:
    message = f"The function {arn} doesn't have an EventInvokeConfig"
    return AwsError(
        "ResourceNotFoundException", message, 404, body={"Type": "User", "Message": message}
    )


def _bounded(data: dict[str, Any], key: str, member: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            "constraint: Member must be an integer"
        )
    if value < low:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {high}"
        )
    return value


@dataclass
class EventInvokeConfig:
    retries: int | None = None
    max_age_s: int | None = None
    destinations: dict[str, Any] = field(default_factory=dict)
    last_modified: float = field(default_factory=time.time)

    def merged(self, data: dict[str, Any], *, replace: bool) -> EventInvokeConfig:
        """Put replaces every setting; Update changes only the ones it names."""
        retries = _bounded(data, "MaximumRetryAttempts", "maximumRetryAttempts", 0, 2)
        age = _bounded(data, "MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", 60, 21_600)
        dest = data.get("DestinationConfig")
        if dest is not None and not isinstance(dest, dict):
            raise validation("DestinationConfig must be an object.")
        if replace:
            return EventInvokeConfig(retries, age, dict(dest or {}))
        return EventInvokeConfig(
            retries if "MaximumRetryAttempts" in data else self.retries,
            age if "MaximumEventAgeInSeconds" in data else self.max_age_s,
            dict(dest) if dest is not None else dict(self.destinations),
        )

    def view(self, function_arn: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LastModified": self.last_modified,
            "FunctionArn": function_arn,
            "DestinationConfig": {
                "OnSuccess": self.destinations.get("OnSuccess", {}),
                "OnFailure": self.destinations.get("OnFailure", {}),
            },
        }
        if self.retries is not None:
            out["MaximumRetryAttempts"] = self.retries
        if self.max_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.max_age_s
        return out


class EventQueue:
    """Runs Event invocations in the background, retrying them as Lambda's queue does."""

    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes
        self.configs: dict[str, EventInvokeConfig] = {}  # by function name ($LATEST)
        self.tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0  # events given up: retries exhausted or too old

    def forget(self, function_name: str) -> None:
        self.configs.pop(function_name, None)

    def submit(self, name: str, request_id: str, payload: bytes, resolve: Resolver) -> None:
        task = asyncio.create_task(self._guarded(name, request_id, payload, resolve))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(
        self, name: str, request_id: str, payload: bytes, resolve: Resolver
    ) -> None:
        try:
            await self._run(name, request_id, payload, resolve)
        except Exception:  # an event has no caller to report to: log it, never retry a bug
            log.exception("event %s for %s failed", request_id, name)

    async def _run(self, name: str, request_id: str, payload: bytes, resolve: Resolver) -> None:
        loop = asyncio.get_running_loop()
        queued_at = loop.time()
        failures = 0
        backoff = THROTTLE_FIRST_DELAY_S
        while True:
            config = self.configs.get(name, EventInvokeConfig())
            max_age = config.max_age_s if config.max_age_s is not None else DEFAULT_MAX_AGE_S
            retries = config.retries if config.retries is not None else DEFAULT_RETRIES
            current = resolve()
            if current is None:
                return  # the function is gone, and its queue with it
            if loop.time() - queued_at > max_age * TIME_SCALE:
                self._drop(name, request_id, "older than MaximumEventAgeInSeconds")
                return
            spec, reserved = current
            try:
                result = await self.sandboxes.invoke(
                    spec, payload, request_id=request_id, reserved_concurrency=reserved,
                    log_tail=False,
                )
            except (Throttled, EmulatorError) as exc:  # back to the queue, exponential back-off
                log.info("event %s for %s requeued: %s", request_id, name, exc)
                await asyncio.sleep(backoff * TIME_SCALE)
                backoff = min(backoff * 2, THROTTLE_MAX_DELAY_S)
                continue
            if result.function_error is None:
                return
            if failures >= retries:
                self._drop(name, request_id, "function error, retries exhausted")
                return
            delay = ERROR_RETRY_DELAYS_S[min(failures, len(ERROR_RETRY_DELAYS_S) - 1)]
            failures += 1
            await asyncio.sleep(delay * TIME_SCALE)

    def _drop(self, name: str, request_id: str, why: str) -> None:
        self.dropped += 1
        log.warning("event %s for %s dropped: %s", request_id, name, why)
