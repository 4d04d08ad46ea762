"""The `provisioned` and `snapstart` matrix axes: cells, ids, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bench.errors import InputError
from bench.matrix import parse_matrix


def _matrix(extra: str) -> Any:
    base = "name: levers\nruntimes: [python3.12, nodejs22.x, java21]\nmemory_mb: [512]\n"
    return parse_matrix(yaml.safe_load(base + extra), "m.yaml")


def test_without_the_axes_cell_ids_do_not_change() -> None:
    ids = [c.id for c in _matrix("").cells()]
    assert ids == [
        "python3.12-512mb-x86_64-none", "nodejs22.x-512mb-x86_64-none", "java21-512mb-x86_64-none",
    ]  # fmt: skip
    assert all(c.provisioned == 0 and c.snapstart == "off" for c in _matrix("").cells())


def test_the_axes_multiply_cells_where_aws_offers_the_lever() -> None:
    # YAML reads `off`/`on` as booleans; the matrix takes them back as the words.
    cells = _matrix("provisioned: [0, 2]\nsnapstart: [off, on]\n").cells()
    ids = [c.id for c in cells]
    assert ids == [
        "python3.12-512mb-x86_64-none", "python3.12-512mb-x86_64-none-snapstart",
        "python3.12-512mb-x86_64-none-pc2",
        "nodejs22.x-512mb-x86_64-none", "nodejs22.x-512mb-x86_64-none-pc2",
        "java21-512mb-x86_64-none", "java21-512mb-x86_64-none-snapstart",
        "java21-512mb-x86_64-none-pc2",
    ]  # fmt: skip  (no SnapStart for Node.js, none together with provisioned concurrency)
    assert [c.published for c in cells] == [False, True, True, False, True, False, True, True]


def test_exclude_names_the_new_axes() -> None:
    cells = _matrix(
        "provisioned: [0, 2]\nexclude: [{runtime: java21, provisioned: 2}]\n"
    ).cells()
    assert "java21-512mb-x86_64-none-pc2" not in [c.id for c in cells]
    with pytest.raises(InputError, match=r"exclude\[0\]\.provisioned: 3 is not in provisioned"):
        _matrix("provisioned: [0, 2]\nexclude: [{provisioned: 3}]\n")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("provisioned: [-1]", r"m\.yaml: provisioned\[0\]: .*greater than or equal to 0"),
        ("provisioned: [2, 2]", r"m\.yaml: provisioned\[1\]: 2 is listed twice"),
        ("provisioned: []", r"m\.yaml: provisioned: must list at least one value"),
        ("provisioned: ['2']", r"m\.yaml: provisioned\[0\]: "),
        ("snapstart: [maybe]", r"m\.yaml: snapstart\[0\]: "),
    ],
)
def test_bad_values_name_the_field(extra: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _matrix(extra)


def test_snapstart_on_for_no_runtime_that_has_it_is_refused() -> None:
    text = "name: x\nruntimes: [nodejs22.x]\nmemory_mb: [512]\nsnapstart: [on]\n"
    with pytest.raises(InputError, match="snapstart: on applies to none of the runtimes"):
        parse_matrix(yaml.safe_load(text), "m.yaml")
