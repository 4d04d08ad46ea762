"""One error family, caught once at the entry point and mapped to an exit code.

Exit codes are part of the interface:
0 ok, 1 regression found (compare), 2 usage or input error, 3 run failed or incomplete.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_INPUT = 2
EXIT_RUN_FAILED = 3


class BenchError(Exception):
    """A failure the user can act on; its message is one line naming what to fix."""

    exit_code = EXIT_INPUT


class InputError(BenchError):
    """Bad matrix, bad flag, unreadable results directory."""

    exit_code = EXIT_INPUT


class BudgetExceeded(InputError):
    """The worst-case cost of a matrix is above its budget."""


class ResultsFormatError(InputError):
    """A results directory that does not follow docs/results-format.md."""


class TargetError(BenchError):
    """The target (AWS or the local emulator) refused or failed."""

    exit_code = EXIT_RUN_FAILED


class RunFailed(BenchError):
    """The run finished incomplete or aborted."""

    exit_code = EXIT_RUN_FAILED


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message`, for a cell's error or an event."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
