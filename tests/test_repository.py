"""The test suite reads only the repository: a clone runs every test the same way."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# A path that leaves the clone: the team's reference folder beside it, or this machine's.
OUTSIDE = re.compile(r"""["'](?:\.\./shared|/work/)|parents\[\d\]\s*/\s*["']shared""")


def test_no_test_reads_data_from_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE.search(line) and path.name != "test_repository.py"
    ]
    assert not offenders, "tests must read tests/data, not:\n" + "\n".join(offenders)


def test_the_platform_line_corpus_is_in_the_repository() -> None:
    corpus = TESTS / "data" / "platform-lines.jsonl"
    assert corpus.is_file() and corpus.stat().st_size > 0
