"""Published measurements of how long idle Lambda environments stay warm, drawn as
reference curves beside a keep-alive run (docs/data/keepalive-published.md says where
each figure comes from). Each curve: P(still warm) at idle times in seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    label: str  # source and year, as the chart shows it
    points: tuple[tuple[float, float], ...]  # (idle seconds, P(still warm))
    note: str


def _halving(warm_s: float, half_life_s: float, until_s: float) -> tuple[tuple[float, float], ...]:
    steps = 40
    points = [(0.0, 1.0), (warm_s, 1.0)]
    for i in range(1, steps + 1):
        t = warm_s + (until_s - warm_s) * i / steps
        points.append((t, 0.5 ** ((t - warm_s) / half_life_s)))
    return tuple(points)


REFERENCES = (
    Reference(
        "published measurement, 2017: reclaimed after 45-60 min",
        ((0.0, 1.0), (2700.0, 1.0), (3600.0, 0.0)),
        "45 to 60 minutes of inactivity; drawn as a straight fall across that range",
    ),
    Reference(
        "published measurement, Jul-Aug 2019: fixed 10 min",
        ((0.0, 1.0), (599.9, 1.0), (600.0, 0.0)),
        "a fixed 10 minutes",
    ),
    Reference(
        "public article series, data to end of 2020",
        ((0.0, 1.0), (300.0, 1.0), (360.0, 0.59), (420.0, 0.0)),
        "cold-start probability 0 up to 5 min idle, 0.41 at 6 min, 1.0 from 7 min",
    ),
    Reference(
        "SeBS, Jan 2020: all warm to 360 s, then half per ~380 s",
        _halving(360.0, 380.0, 3600.0),
        "2-20 concurrent environments, 128-1536 MB, python and node",
    ),
)
