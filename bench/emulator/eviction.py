"""When an idle execution environment is reclaimed: the local target's eviction policy.

AWS reclaims idle environments after a period it does not publish, and recycles busy ones
after some hours. The local target models that with one of:

- never (the default): an environment lives until its function changes or is deleted;
- fixed: every environment idle for `idle_timeout_s` is reclaimed;
- halving: all stay warm for `warm_s` of idle time, then half of the survivors are
  reclaimed per further `half_life_s` (the model SeBS fitted to its January 2020 data:
  360 s, then ~380 s), drawn independently for every idle period;

and, with any of them, `max_lifetime_s`: an environment older than that is not reused.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvictionPolicy:
    idle_timeout_s: float | None = None
    halving_warm_s: float | None = None
    halving_half_life_s: float | None = None
    max_lifetime_s: float | None = None
    seed: int | None = None  # draws of the halving model; None: from the OS

    def __post_init__(self) -> None:
        halving = (self.halving_warm_s, self.halving_half_life_s)
        if (halving[0] is None) != (halving[1] is None):
            raise ValueError("the halving model needs both warm_s and half_life_s")
        if self.idle_timeout_s is not None and halving[0] is not None:
            raise ValueError("give idle_timeout_s or the halving model, not both")
        for name in ("idle_timeout_s", "halving_warm_s", "max_lifetime_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0")
        if self.halving_half_life_s is not None and self.halving_half_life_s <= 0:
            raise ValueError("half_life_s must be above 0")
        if self.max_lifetime_s is not None and self.max_lifetime_s <= 0:
            raise ValueError("max_lifetime_s must be above 0")

    @property
    def model(self) -> str:
        if self.idle_timeout_s is not None:
            return "fixed"
        if self.halving_warm_s is not None:
            return "halving"
        return "never"

    def survival(self, idle_s: float) -> float:
        """P(an environment idle for `idle_s` is still warm) under this policy."""
        if self.idle_timeout_s is not None:
            return 1.0 if idle_s < self.idle_timeout_s else 0.0
        if self.halving_warm_s is not None and self.halving_half_life_s is not None:
            beyond = max(0.0, idle_s - self.halving_warm_s)
            return float(0.5 ** (beyond / self.halving_half_life_s))
        return 1.0

    def draw_idle_limit(self, rng: random.Random) -> float | None:
        """How long the environment just released may stay idle; None: for ever."""
        if self.idle_timeout_s is not None:
            return self.idle_timeout_s
        if self.halving_warm_s is not None and self.halving_half_life_s is not None:
            # Survival 0.5^(t / h) past warm_s is an exponential tail of rate ln 2 / h.
            return self.halving_warm_s + rng.expovariate(math.log(2) / self.halving_half_life_s)
        return None

    def new_rng(self) -> random.Random:
        return random.Random(self.seed)

    def describe(self) -> dict[str, Any]:
        """The manifest's target.local.eviction."""
        return {
            "model": self.model,
            "idle_timeout_s": self.idle_timeout_s,
            "warm_s": self.halving_warm_s,
            "half_life_s": self.halving_half_life_s,
            "max_lifetime_s": self.max_lifetime_s,
        }


NEVER = EvictionPolicy()


def eviction_from_options(
    idle_timeout_s: float | None, halving: str | None, max_lifetime_s: float | None
) -> EvictionPolicy:
    """`bench emulator --idle-timeout-s / --idle-halving WARM_S:HALF_LIFE_S /
    --max-lifetime-s` as a policy; EmulatorConfigError on what does not parse."""
    from bench.emulator.errors import EmulatorConfigError

    warm = half = None
    if halving is not None:
        first, sep, second = halving.partition(":")
        try:
            warm, half = float(first), float(second)
        except ValueError:
            sep = ""
        if not sep:
            raise EmulatorConfigError(
                f"--idle-halving {halving!r}: expected WARM_S:HALF_LIFE_S, e.g. 360:380"
            )
    try:
        return EvictionPolicy(
            idle_timeout_s=idle_timeout_s,
            halving_warm_s=warm,
            halving_half_life_s=half,
            max_lifetime_s=max_lifetime_s,
        )
    except ValueError as exc:
        raise EmulatorConfigError(f"bench emulator: {exc}") from None
