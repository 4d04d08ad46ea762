"""The matrix keys of the keep-alive and warm-up experiments, and which experiment needs
which (the matrix contract, bench.matrix, checks them through `check_experiment`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXPERIMENTS = ("coldstart", "keepalive", "warmup")
Experiment = Literal["coldstart", "keepalive", "warmup"]
Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
# Which top-level keys belong to which experiment (the rest apply to every one).
KEYS: dict[str, tuple[str, ...]] = {
    "keepalive": ("idle_s", "environments", "repetitions"),
    "warmup": ("ping_every_s", "ping_concurrency", "duration_s", "traffic"),
}


class Traffic(BaseModel):
    """User-like traffic: a Poisson arrival rate, or a recorded list of arrival times
    (seconds from the start)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    poisson_rate_per_s: Seconds | None = None
    seed: Annotated[int, Field(strict=True)] = 0
    arrivals_s: list[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Traffic:
        if (self.poisson_rate_per_s is None) == (self.arrivals_s is None):
            raise ValueError("give poisson_rate_per_s or arrivals_s (one of them)")
        if self.arrivals_s is not None and not self.arrivals_s:
            raise ValueError("arrivals_s must list at least one arrival")
        return self


def check_experiment(matrix: Any) -> None:
    """Every key of the matrix's experiment given, none of another's; the gaps distinct."""
    mine = KEYS.get(matrix.experiment, ())
    for experiment, keys in KEYS.items():
        for key in keys:
            given = getattr(matrix, key) is not None
            if experiment != matrix.experiment and given:
                raise ValueError(
                    f"{key} applies to experiment: {experiment}, not {matrix.experiment}"
                )
            if key in mine and not given:
                raise ValueError(f"experiment: {matrix.experiment} needs {key}")
    if matrix.experiment == "keepalive":
        gaps = list(matrix.idle_s)
        if not gaps:
            raise ValueError("idle_s must list at least one gap")
        if len(set(gaps)) != len(gaps):
            raise ValueError("idle_s lists a gap twice")
    if matrix.experiment == "warmup" and matrix.traffic.arrivals_s is not None:
        late = [t for t in matrix.traffic.arrivals_s if t >= matrix.duration_s]
        if late:
            raise ValueError(f"traffic.arrivals_s: {late[0]:g} is not before duration_s")
