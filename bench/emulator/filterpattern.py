"""CloudWatch Logs filter patterns: the subset a benchmark harness needs.

- Terms: `ERROR timeout` (all must appear), `"quoted phrase"`, `?a ?b` (any of), `-term`.
- JSON: `{ $.type = "platform.report" }`, `{ $.record.metrics.durationMs > 100 }`, joined
  by `&&` or `||` (no parentheses); `*` wildcards in string values; `!=` and numeric
  comparisons. A message that is not a JSON object never matches a JSON pattern.

Matching is case-sensitive, as in CloudWatch. Space-delimited `[...]` patterns are refused
with a clear error rather than answered wrongly.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable
from typing import Any

from bench.emulator.errors import logs_invalid

Matcher = Callable[[str], bool]
_COMPARISON = re.compile(
    r"^\s*(?P<selector>\$(?:\.[A-Za-z0-9_@-]+|\[\d+\])*)\s*"
    r"(?P<op>=|!=|<=|>=|<|>)\s*(?P<value>\"(?:[^\"\\]|\\.)*\"|[^\s&|]+)\s*$"
)
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def compile_pattern(pattern: str | None) -> Matcher:
    text = (pattern or "").strip()
    if not text:
        return lambda _message: True
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("["):
        raise logs_invalid(
            "The local CloudWatch Logs supports term, quoted-phrase and JSON filter patterns, "
            f"not space-delimited ones: {pattern}"
        )
    return _term_pattern(text)


def _term_pattern(text: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for match in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', text):
        prefix, quoted, bare = match.groups()
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        {"?": optional, "-": excluded}.get(prefix, required).append(term)

    def matches(message: str) -> bool:
        if any(term in message for term in excluded):
            return False
        if optional and not any(term in message for term in optional):
            return False
        return all(term in message for term in required)

    return matches


def _select(document: Any, selector: str) -> Any:
    for key, index in re.findall(r"\.([A-Za-z0-9_@-]+)|\[(\d+)\]", selector[1:]):
        if key and isinstance(document, dict) and key in document:
            document = document[key]
        elif index and isinstance(document, list) and int(index) < len(document):
            document = document[int(index)]
        else:
            raise KeyError(selector)
    return document


def _comparison(clause: str, pattern: str) -> Callable[[Any], bool]:
    match = _COMPARISON.match(clause)
    if match is None:
        raise logs_invalid(f"Invalid JSON filter pattern clause {clause.strip()!r} in {pattern}")
    selector, op, raw = match["selector"], match["op"], match["value"]
    if op in _NUMERIC_OPS:
        try:
            bound = float(raw)
        except ValueError as exc:
            raise logs_invalid(f"{op} needs a number, not {raw!r}, in {pattern}") from exc
        compare = _NUMERIC_OPS[op]

        def numeric(doc: Any) -> bool:
            value = _select(doc, selector)
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and compare(float(value), bound)
            )

        return numeric
    wanted = json.loads(raw) if raw.startswith('"') else raw

    def equal(doc: Any) -> bool:
        value = _select(doc, selector)
        if isinstance(value, bool) or value is None:
            text = json.dumps(value)
        elif isinstance(value, int | float):
            try:
                return (float(wanted) == float(value)) == (op == "=")
            except ValueError:
                return op == "!="
        else:
            text = str(value)
        hit = fnmatch.fnmatchcase(text, str(wanted)) if "*" in str(wanted) else text == wanted
        return hit == (op == "=")

    return equal


def _json_pattern(text: str) -> Matcher:
    if not text.endswith("}"):
        raise logs_invalid(f"A JSON filter pattern must end with '}}': {text}")
    body = text[1:-1]
    if "(" in body:
        raise logs_invalid(f"Parentheses in JSON filter patterns are not supported here: {text}")
    alternatives = [
        [_comparison(clause, text) for clause in branch.split("&&")] for branch in body.split("||")
    ]

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        if not isinstance(document, dict):
            return False
        for branch in alternatives:
            try:
                if all(check(document) for check in branch):
                    return True
            except KeyError:  # a missing field fails the comparison, as in CloudWatch
                continue
        return False

    return matches
