"""The local target's eviction policy: never by default, a fixed idle timeout, the halving
model, and a maximum environment lifetime."""

import asyncio
import json
import random
import time

import pytest
from scipy.stats import binom
from typer.testing import CliRunner

from bench.cli import app
from bench.emulator.errors import EmulatorConfigError
from bench.emulator.eviction import EvictionPolicy, eviction_from_options


async def _until(condition, deadline_s: float = 5.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def _pid(kit, m, spec) -> int:
    _, result = await kit.invoke(m, spec, {})
    return json.loads(result.payload)["pid"]


def test_by_default_idle_environments_are_never_evicted(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        first = await _pid(sandbox_kit, m, spec)
        idle = m._idle[(spec.name, spec.revision_id)]
        assert len(idle) == 1 and idle[0].idle_timer is None  # nothing scheduled to evict it
        assert await _pid(sandbox_kit, m, spec) == first
        assert m.info().eviction["model"] == "never"

    run_sandboxes(scenario, isolation="off")


def test_fixed_timeout_evicts_and_counts(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        first = await _pid(sandbox_kit, m, spec)
        assert await _until(lambda: m.info().sandboxes_live == 0)
        assert await _pid(sandbox_kit, m, spec) != first
        info = m.info().eviction
        assert info["model"] == "fixed" and info["idle_timeout_s"] == 0.3
        assert info["evicted"] == {"idle": 1, "lifetime": 0}

    run_sandboxes(scenario, eviction=EvictionPolicy(idle_timeout_s=0.3), isolation="off")


def test_an_environment_past_its_lifetime_is_not_reused(run_sandboxes, sandbox_kit):
    spec = sandbox_kit.spec()

    async def scenario(m, sink):
        first = await _pid(sandbox_kit, m, spec)
        assert await _pid(sandbox_kit, m, spec) == first  # young: reused
        assert await _until(lambda: m.info().sandboxes_live == 0)  # reclaimed at its age
        assert await _pid(sandbox_kit, m, spec) != first
        assert m.info().eviction["max_lifetime_s"] == 0.6

    run_sandboxes(scenario, eviction=EvictionPolicy(max_lifetime_s=0.6), isolation="off")


def test_halving_draws_follow_the_model():
    policy = EvictionPolicy(halving_warm_s=360, halving_half_life_s=380, seed=3)
    assert policy.survival(300) == 1.0
    assert policy.survival(740) == pytest.approx(0.5)
    assert policy.survival(1120) == pytest.approx(0.25)
    rng = random.Random(3)
    draws = [policy.draw_idle_limit(rng) for _ in range(4000)]
    assert min(draws) >= 360
    for idle_s in (500, 740, 1120, 1500):
        survived = sum(d > idle_s for d in draws)
        low, high = binom.interval(0.999, len(draws), policy.survival(idle_s))
        assert low <= survived <= high, (idle_s, survived, low, high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"idle_timeout_s": 3, "halving_warm_s": 1, "halving_half_life_s": 1}, "not both"),
        ({"halving_warm_s": 1}, "needs both"),
        ({"halving_warm_s": 1, "halving_half_life_s": 0}, "above 0"),
        ({"max_lifetime_s": 0}, "above 0"),
    ],
)
def test_inconsistent_policies_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvictionPolicy(**kwargs)


def test_emulator_options_parse_and_refuse():
    policy = eviction_from_options(None, "360:380", 7200)
    assert (policy.model, policy.halving_warm_s, policy.halving_half_life_s) == (
        "halving", 360, 380)
    assert policy.max_lifetime_s == 7200
    with pytest.raises(EmulatorConfigError, match="WARM_S:HALF_LIFE_S"):
        eviction_from_options(None, "360", None)
    with pytest.raises(EmulatorConfigError, match="not both"):
        eviction_from_options(3, "1:1", None)


def test_bench_emulator_refuses_a_bad_halving_flag_in_one_line():
    result = CliRunner().invoke(app, ["emulator", "--idle-halving", "soon"])
    assert result.exit_code == 2
    assert "--idle-halving 'soon': expected WARM_S:HALF_LIFE_S" in result.output
