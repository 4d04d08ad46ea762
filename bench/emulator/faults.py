"""Fault injection: chosen API calls answer with an AWS error for a while, or answer late.

This is how the harness is tested against what AWS does to a first run (a new IAM role
that Lambda cannot assume yet, a response lost after the request took effect). Faults are
fixed when the emulator is built (`Emulator(faults=...)`, `bench emulator --fault`) and
never over the API, so neither a client nor a sandbox can turn one on.

A fault's window opens at the first request it matches: `for_s` seconds from then, or
`times` matching requests. An error fault answers instead of the handler; a delay fault
lets the handler do its work and holds the response back, as a network that lost the
answer would.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.emulator.errors import AwsError, EmulatorConfigError

# The two messages Lambda gives while a new execution role has not reached it yet.
ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
KMS_GRANT_PRINCIPAL = (
    "Lambda was unable to configure access to your environment variables because the KMS key "
    "is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
    "InvalidArnException KMS Message: ARN does not refer to a valid principal: "
    "arn:aws:sts::{account}:assumed-role/{role}/{function}"
)


@dataclass(frozen=True)
class Fault:
    operation: str  # API operation name, e.g. "CreateFunction"
    error_code: str | None = None  # None: a delay fault
    message: str = ""
    status: int = 400
    for_s: float | None = None
    times: int | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if (self.for_s is None) == (self.times is None):
            raise EmulatorConfigError(
                f"fault on {self.operation}: give either a duration or a count"
            )
        if self.error_code is None and self.delay_s <= 0:
            raise EmulatorConfigError(f"fault on {self.operation}: neither an error nor a delay")


def parse_fault(spec: str) -> Fault:
    """`OPERATION:ERROR_CODE:WINDOW[:MESSAGE]` or `OPERATION:delay=SECONDS:WINDOW`, where
    WINDOW is `40s` (seconds from the first matching request) or `2x` (that many requests).
    E.g. `CreateFunction:InvalidParameterValueException:40s:The role defined for the
    function cannot be assumed by Lambda.`"""
    parts = spec.split(":", 3)
    if len(parts) < 3:
        raise EmulatorConfigError(
            f"--fault {spec!r}: expected OPERATION:ERROR_CODE:WINDOW[:MESSAGE] or "
            "OPERATION:delay=SECONDS:WINDOW, WINDOW like 40s or 2x"
        )
    operation, what, window = parts[0], parts[1], parts[2]
    message = parts[3] if len(parts) == 4 else ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([sx])", window)
    if not match or not re.fullmatch(r"[A-Za-z]+", operation):
        raise EmulatorConfigError(f"--fault {spec!r}: window {window!r} must look like 40s or 2x")
    amount, unit = float(match.group(1)), match.group(2)
    timing = {"for_s": amount} if unit == "s" else {"times": int(amount)}
    if what.startswith("delay="):
        try:
            delay = float(what.removeprefix("delay="))
        except ValueError:
            raise EmulatorConfigError(
                f"--fault {spec!r}: delay must be a number of seconds"
            ) from None
        return Fault(operation, delay_s=delay, **timing)
    return Fault(operation, error_code=what, message=message, **timing)


class FaultPlan:
    """The faults of one emulator and how often each fired."""

    def __init__(
        self, faults: Iterable[Fault] = (), clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.faults = list(faults)
        self._clock = clock
        self._lock = threading.Lock()
        self._opened: dict[int, float] = {}
        self._seen: Counter[int] = Counter()
        self.fired: Counter[str] = Counter()

    def _active(self, index: int, fault: Fault) -> bool:
        """Whether this matching request falls in the fault's window (lock held)."""
        now = self._clock()
        opened = self._opened.setdefault(index, now)
        self._seen[index] += 1
        if fault.for_s is not None:
            return now - opened < fault.for_s
        return self._seen[index] <= (fault.times or 0)

    def error_for(self, operation: str) -> AwsError | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                wanted = fault.operation == operation and fault.error_code is not None
                if wanted and self._active(index, fault):
                    self.fired[f"{operation}:{fault.error_code}"] += 1
                    return AwsError(str(fault.error_code), fault.message, fault.status)
        return None

    def delay_for(self, operation: str) -> float:
        with self._lock:
            for index, fault in enumerate(self.faults):
                wanted = fault.operation == operation and fault.error_code is None
                if wanted and self._active(index, fault):
                    self.fired[f"{operation}:delay"] += 1
                    return fault.delay_s
        return 0.0
