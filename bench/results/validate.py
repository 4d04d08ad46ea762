"""What the readers refuse: values no run can produce (docs/results-format.md, "What
readers refuse").

By default the first such record is a one-line error naming the file and the record.
Leniently, every such record is dropped and named with its reason, so a report built from
what is left says what it left out; a number is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultsFormatError
from bench.results.schema import (
    LAMBDA_MEMORY_MB,
    MEMORY_KEYS,
    NON_NEGATIVE_KEYS,
)

if TYPE_CHECKING:
    import pandas as pd

LENIENT_HINT = "pass --lenient to leave such records out"
LENIENT_FILE_HINT = "pass --lenient to report the run as it is"


@dataclass
class Findings:
    """Problems per record (0-based index into the file's records), and about the file."""

    by_record: dict[int, list[str]] = field(default_factory=dict)
    about_file: list[str] = field(default_factory=list)

    def add(self, index: int, problem: str) -> None:
        self.by_record.setdefault(index, []).append(problem)


def find_problems(
    frame: pd.DataFrame,
    run_id: str,
    non_finite: list[tuple[int, str]],
) -> Findings:
    """Every record no run can produce, with why (vectorised: runs have a million)."""
    import numpy as np

    found = Findings()
    for index, problem in non_finite:
        found.add(index, problem)
    for key in NON_NEGATIVE_KEYS:
        values = frame[key].to_numpy(dtype=float)
        for i in np.flatnonzero(values < 0):
            found.add(int(i), f"{key} is {values[i]:g}, below zero")
    low, high = LAMBDA_MEMORY_MB
    for key in MEMORY_KEYS:
        values = frame[key].to_numpy(dtype=float)
        for i in np.flatnonzero((values < low) | (values > high)):
            found.add(int(i), f"{key} is {values[i]:g}, outside Lambda's {low}..{high} MB")
    runs = frame["run"].astype(object).to_numpy()
    for i in np.flatnonzero(runs != run_id):
        found.add(int(i), f"run is {runs[i]!r}, not this run's {run_id}")
    ids = frame["request_id"]
    # In production a request id may come back: Lambda retries an asynchronous event
    # under the request id it first ran with, and each attempt logs its own REPORT.
    measured = (frame["phase"].astype(object) != "production").to_numpy()
    repeated = ids.notna().to_numpy() & ids.duplicated(keep="first").to_numpy() & measured
    if repeated.any():
        first = {rid: i for i, rid in reversed(list(enumerate(ids.tolist()))) if rid is not None}
        for i in np.flatnonzero(repeated):
            rid = ids.iat[int(i)]
            found.add(int(i), f"request id {rid} again (first in record {first[rid] + 1})")
    return found


def empty_run_problem(manifest: dict[str, Any], records: int, present: bool) -> str:
    """Why a run with no records (or no invocations file) cannot be what its manifest says."""
    if not present:
        return "missing; every run writes one (empty when nothing ran)"
    if records or manifest.get("production") is not None:
        return ""  # a production window may hold no invocation at all
    done = sorted(c for c, e in (manifest.get("cells") or {}).items()
                  if isinstance(e, dict) and e.get("status") == "complete")  # fmt: skip
    if manifest.get("status") == "complete" or done:
        claim = "the run is complete" if manifest.get("status") == "complete" \
            else f"cell {done[0]} is complete"
        return f"no records, but the manifest says {claim}"
    return ""


def apply(
    frame: pd.DataFrame,
    found: Findings,
    file: Path,
    *,
    lenient: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """The records to use and, leniently, what was left out and why; strictly, the first
    problem as a ResultsFormatError."""
    if found.about_file and not lenient:
        raise ResultsFormatError(f"{file}: {found.about_file[0]}; {LENIENT_FILE_HINT}")
    if found.by_record and not lenient:
        index = min(found.by_record)
        raise ResultsFormatError(
            f"{file}: record {index + 1}: {found.by_record[index][0]}; {LENIENT_HINT}"
        )
    dropped = [f"{file.name}: {problem}" for problem in found.about_file]
    dropped += [
        f"{file.name}: record {index + 1} left out: {'; '.join(problems)}"
        for index, problems in sorted(found.by_record.items())
    ]
    if found.by_record:
        keep = frame.index.difference(sorted(found.by_record))
        frame = frame.loc[keep].reset_index(drop=True)
    return frame, dropped
