"""The account's concurrency: its limit, the unreserved minimum, and the shared pool.

A fresh AWS account has 1,000 concurrent executions, of which reservations may take all
but 100; new accounts are often given far less (10 or 50). Functions without a
reservation share what is left, the unreserved pool, and an invoke that would go beyond
it is throttled (429, Reason ConcurrentInvocationLimitExceeded). The settings are fixed
when the emulator is built (`Emulator(account=...)`), so a test can play a small account.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.emulator.errors import too_many_requests


@dataclass(frozen=True)
class AccountSettings:
    concurrent_executions: int = 1000
    # AWS keeps at least this many unreserved; with a smaller limit nothing can be reserved.
    min_unreserved: int = 100


class UnreservedPool:
    """In-flight invocations of functions without a reservation (event-loop thread only)."""

    def __init__(self, settings: AccountSettings) -> None:
        self.settings = settings
        self.in_flight = 0
        self.peak = 0
        self.throttled = 0

    def enter(self, reserved_total: int) -> None:
        """Admit one invocation or raise the 429 AWS answers when the pool is full."""
        pool = self.settings.concurrent_executions - reserved_total
        if self.in_flight >= pool:
            self.throttled += 1
            raise too_many_requests("ConcurrentInvocationLimitExceeded", "Rate Exceeded.")
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1
