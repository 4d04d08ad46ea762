"""The jinja2 environment shared by every page: package loader, autoescape, number filters."""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

DASH = "–"  # an en dash reads as "not measured", unlike 0


def number(value: Any, digits: int = 1) -> str:
    """Fixed decimals with thousands separators; a dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:,.{digits}f}"


def ms(value: Any, digits: int = 1) -> str:
    """Milliseconds in a narrow column: `digits` decimals below a second, none from a
    second up (1,532 ms, not 1,532.4: the decimal adds width, not meaning)."""
    if isinstance(value, (int, float)) and not math.isnan(value) and abs(value) >= 1000:
        digits = 0
    return number(value, digits)


def usd(value: Any) -> str:
    """Dollars as everywhere else (bench.cost.usd: a production window's $0.0000404 is not
    $0.0000); "not available" where nothing was priced."""
    from bench.cost import usd as dollars

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not available"
    return dollars(float(value))


@cache
def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("bench.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["ms"] = ms
    env.filters["usd"] = usd
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def svg(markup: str) -> Any:
    """Mark a chart from charts.py as safe to inline (it is our own SVG, not user text)."""
    from markupsafe import Markup

    return Markup(markup)
