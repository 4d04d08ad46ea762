"""Which matrix settings differ between two runs (the resolved matrix, less its name).

History marks a run whose matrix changed since the previous one, and compare says which
settings differ, so a step in a trend is not read as the function's doing when `burst` or
`cold_starts` changed under it.
"""

from __future__ import annotations

import json
from typing import Any

IGNORED = ("name",)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars are leaves."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flat(value[key], f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, sort_keys=True)


_ABSENT = object()


def matrix_changes(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`setting: base -> new` for each resolved-matrix setting that differs; [] when the
    matrices agree (or neither manifest recorded one)."""
    left = _flat({k: v for k, v in (base.get("matrix") or {}).items() if k not in IGNORED})
    right = _flat({k: v for k, v in (new.get("matrix") or {}).items() if k not in IGNORED})
    changes = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key, _ABSENT), right.get(key, _ABSENT)
        if a != b:
            changes.append(f"{key}: {_show(a)} -> {_show(b)}")
    return changes
