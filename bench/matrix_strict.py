"""What every matrix model shares: unknown keys rejected, values frozen, numbers strict
(YAML's `yes` or "128" never becomes 1 or 128), `on`/`off` kept as the words they are."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Snapstart = Literal["off", "on"]


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads `on`/`off` as booleans: take them back as the words they were."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


OnOff = Annotated[Snapstart, BeforeValidator(_on_off)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Numbers are strict: YAML's `yes` or "128" must not quietly become 1 or 128.
StrictCount = Annotated[int, Field(strict=True)]
StrictNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
