"""Typed columns of invocation records, built chunk by chunk.

A million records never exist as dicts or as Python lists at once, only as numpy arrays
and category codes. The builder also notes every number no run can write (NaN, infinity),
which JSON readers would otherwise turn into null or use as a number without a word.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultsFormatError
from bench.results.schema import (
    CATEGORY_KEYS,
    FLOAT_KEYS,
    INT_KEYS,
    INVOCATION_KEY_SET,
    INVOCATION_KEYS,
    with_added_keys,
)

if TYPE_CHECKING:
    import pandas as pd

_ALL_KEYS = operator.itemgetter(*INVOCATION_KEYS)
_NUMERIC_TYPES = frozenset({int, float, type(None)})  # bool is its own type: excluded


def check_objects(file: Path, chunk: list[Any], before: int) -> list[dict[str, Any]]:
    """The chunk, unless one of its records is not a JSON object (named, 1-based)."""
    if not chunk or set(map(type, chunk)) == {dict}:
        return chunk
    for i, record in enumerate(chunk):
        if not isinstance(record, dict):
            raise ResultsFormatError(f"{file}: record {before + i + 1} is not a JSON object")
    return chunk


def _check_keys(file: Path, chunk: list[dict[str, Any]], before: int) -> None:
    """Name the first record whose keys are not exactly INVOCATION_KEYS."""
    for i, record in enumerate(chunk):
        if record.keys() != INVOCATION_KEY_SET:
            missing = sorted(INVOCATION_KEY_SET - record.keys())
            extra = sorted(record.keys() - INVOCATION_KEY_SET)
            raise ResultsFormatError(
                f"{file}: record {before + i + 1}: missing keys {missing}, unknown keys {extra}"
            )


def invocations_frame(
    records: Iterable[dict[str, Any]], source: str = "invocations"
) -> pd.DataFrame:
    """The DataFrame `load_run` gives for these records."""
    columns = Columns(Path(source))
    columns.add(list(records))
    return columns.frame()


class Columns:
    """Typed columns built chunk by chunk; `non_finite` holds (record index, problem) for
    every NaN or infinite number read."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.source = str(file)
        self.count = 0
        self.arrays: dict[str, list[Any]] = {key: [] for key in INVOCATION_KEYS}
        # An int column stays int64 only while every value in every chunk is an int.
        self.exact_int = dict.fromkeys(INT_KEYS, True)
        self.overflow = dict.fromkeys(INT_KEYS, False)
        self.codes: dict[str, dict[Any, int]] = {key: {None: -1} for key in CATEGORY_KEYS}
        # Equal report_sources lists share one object: a few distinct ones per run.
        self.sources: dict[tuple[Any, ...], list[Any]] = {}
        self.non_finite: list[tuple[int, str]] = []

    def add(self, chunk: list[dict[str, Any]]) -> None:
        import numpy as np

        check_objects(self.file, chunk, self.count)
        try:
            # Every key present (itemgetter raises otherwise) and no others: exactly the set.
            rows = list(map(_ALL_KEYS, chunk))
            if set(map(len, chunk)) - {len(INVOCATION_KEY_SET)}:
                raise KeyError
        except KeyError:
            chunk = [with_added_keys(record) for record in chunk]
            _check_keys(self.file, chunk, self.count)  # raises, naming the record
            rows = list(map(_ALL_KEYS, chunk))
        before = self.count
        self.count += len(chunk)
        if not chunk:
            return
        for key, values in zip(INVOCATION_KEYS, zip(*rows, strict=True), strict=True):
            if key in INT_KEYS or key in FLOAT_KEYS:
                self.arrays[key].append(self._numbers(key, values, before))
            elif key in CATEGORY_KEYS:
                self.arrays[key].append(self._codes(key, values))
            else:
                kept = self._shared_lists(values) if key == "report_sources" else values
                self.arrays[key].append(np.fromiter(kept, dtype=object, count=len(kept)))

    def _numbers(self, key: str, values: Sequence[Any], before: int) -> Any:
        import numpy as np

        types = set(map(type, values))
        if not types <= _NUMERIC_TYPES:
            raise ResultsFormatError(
                f"{self.source}: {key} holds a non-numeric value "
                f"({', '.join(sorted(t.__name__ for t in types - _NUMERIC_TYPES))})"
            )
        try:
            if key in INT_KEYS and types <= {int}:
                try:
                    return np.array(values, dtype=np.int64)
                except OverflowError:
                    self.overflow[key] = True  # an error only if the column stays int
            elif key in INT_KEYS:
                self.exact_int[key] = False
            # numpy turns None into NaN by itself for float64.
            array = np.array(values, dtype=np.float64)
        except OverflowError:
            raise ResultsFormatError(f"{self.source}: {key} holds a number out of range") \
                from None
        if float in types:
            self._note_non_finite(key, values, array, before)
        return array

    def _note_non_finite(self, key: str, values: Sequence[Any], array: Any, before: int) -> None:
        import numpy as np

        nulls = values.count(None)
        infinite = np.isinf(array)
        if int(np.isnan(array).sum()) == nulls and not infinite.any():
            return  # the common case: every NaN is a null
        written = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
        for i in map(int, np.flatnonzero(written & ~np.isfinite(array))):
            self.non_finite.append((before + i, f"{key} is {values[i]!r}, not a number"))

    def _codes(self, key: str, values: Sequence[Any]) -> Any:
        import numpy as np

        codes = self.codes[key]
        try:
            new = set(values) - codes.keys()
        except TypeError:  # a list or an object: unhashable
            raise ResultsFormatError(f"{self.source}: {key} holds a non-text value") from None
        for value in new:
            if not isinstance(value, str):
                raise ResultsFormatError(
                    f"{self.source}: {key} holds a non-text value ({type(value).__name__})"
                )
            codes[value] = len(codes) - 1  # None holds -1
        return np.fromiter(map(codes.__getitem__, values), dtype=np.int32, count=len(values))

    def _shared_lists(self, values: Sequence[Any]) -> list[Any]:
        try:
            return list(map(self.sources.setdefault, map(tuple, values), values))
        except TypeError:  # not all lists of strings: one by one
            return list(map(self._shared, values))

    def _shared(self, value: Any) -> Any:
        if type(value) is not list:
            return value
        try:
            return self.sources.setdefault(tuple(value), value)
        except TypeError:  # unhashable members: kept as they are
            return value

    def frame(self) -> pd.DataFrame:
        """Numbers as int64 (never null) or float64 (NaN for null); the low-cardinality
        strings as Categorical with sorted categories (NaN for null, groupby order as for
        plain strings); request_id, sandbox_id and report_sources as objects, None for
        null (equal report_sources lists are one shared object: copy before changing one).
        Call once: the chunks are released as the columns are joined."""
        import numpy as np
        import pandas as pd

        columns: dict[str, Any] = {}
        for key in INVOCATION_KEYS:
            parts = self.arrays[key]
            if key in CATEGORY_KEYS:
                columns[key] = self._categorical(key, parts)
            elif key in INT_KEYS and self.exact_int[key]:
                if self.overflow[key]:
                    raise ResultsFormatError(f"{self.source}: {key} holds a number out of range")
                columns[key] = np.concatenate(parts) if parts else np.empty(0, np.int64)
            elif key in INT_KEYS or key in FLOAT_KEYS:
                columns[key] = np.concatenate(parts, dtype=np.float64) if parts \
                    else np.empty(0, np.float64)
            else:
                # An explicit object Series: pandas would otherwise infer its string dtype
                # and turn None into NaN.
                values = np.concatenate(parts) if parts else np.empty(0, object)
                columns[key] = pd.Series(values, dtype=object, copy=False)
            parts.clear()
        # The arrays are fresh and ours: no need for pandas to copy them again.
        return pd.DataFrame(columns, columns=list(INVOCATION_KEYS), copy=False)

    def _categorical(self, key: str, parts: list[Any]) -> Any:
        import numpy as np
        import pandas as pd

        codes = self.codes[key]
        del codes[None]
        categories = sorted(codes)
        position = {value: i for i, value in enumerate(categories)}
        # Code in order of first sight -> position among the sorted categories; the last
        # entry keeps -1 (null) as -1.
        remap = np.full(len(categories) + 1, -1, dtype=np.int32)
        for value, code in codes.items():
            remap[code] = position[value]
        joined = np.concatenate(parts) if parts else np.empty(0, np.int32)
        return pd.Categorical.from_codes(remap[joined], categories=pd.Index(categories))
