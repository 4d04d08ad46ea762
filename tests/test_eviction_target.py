"""The matrix's `target.eviction` reaches the local target, and the manifest says it."""

from typing import Any

import pytest

from bench.errors import InputError
from bench.matrix import parse_matrix
from bench.target import eviction_policy, open_target


def _matrix(eviction: Any) -> dict[str, Any]:
    return {"name": "t", "runtimes": ["python3.12"], "memory_mb": [128], "cold_starts": 2,
            "burst": 2, "target": {"kind": "local", "eviction": eviction}}


def test_default_is_never_evict():
    m = parse_matrix({"name": "t", "runtimes": ["python3.12"], "memory_mb": [128],
                      "cold_starts": 2, "burst": 2})
    assert eviction_policy(m.target).model == "never"


def test_fixed_and_halving_reach_the_policy():
    fixed = eviction_policy(parse_matrix(_matrix({"idle_timeout_s": 3})).target)
    assert (fixed.model, fixed.idle_timeout_s) == ("fixed", 3)
    halving = eviction_policy(parse_matrix(_matrix(
        {"halving": {"warm_s": 2, "half_life_s": 1.5}, "max_lifetime_s": 60, "seed": 4}
    )).target)
    assert (halving.model, halving.halving_warm_s, halving.halving_half_life_s) == (
        "halving", 2, 1.5)
    assert (halving.max_lifetime_s, halving.seed) == (60, 4)


@pytest.mark.parametrize(
    ("eviction", "message"),
    [
        ({"idle_timeout_s": 3, "halving": {"warm_s": 1, "half_life_s": 1}}, "not both"),
        ({"idle_timeout_s": -1}, "target.eviction.idle_timeout_s"),
        ({"halving": {"warm_s": 1}}, "target.eviction.halving.half_life_s"),
        ({"idle_timout_s": 3}, "unknown key"),
    ],
)
def test_bad_eviction_is_one_clear_error(eviction, message):
    with pytest.raises(InputError, match=message):
        parse_matrix(_matrix(eviction), "m.yaml")


def test_the_manifest_section_names_the_policy():
    m = parse_matrix(_matrix({"idle_timeout_s": 3, "max_lifetime_s": 100}))
    with open_target(m) as target:
        eviction = target.describe()["local"]["eviction"]
    assert eviction["model"] == "fixed"
    assert eviction["idle_timeout_s"] == 3 and eviction["max_lifetime_s"] == 100
    assert eviction["evicted"] == {"idle": 0, "lifetime": 0}
