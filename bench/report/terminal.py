"""The run summary as the terminal shows it: the local target's disclosure line, then a
table that fits the width it is printed at.

rich squeezes a table wider than the terminal by cutting its last columns without a word;
here the least needed columns are left out instead, and a line says which (the report
has them all).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from bench.report.run import DROP_ORDER

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.table import Table


class FittedTable:
    """Builds the table with every column, then without the next column of DROP_ORDER,
    until it fits the width it is rendered at."""

    def __init__(self, build: Callable[[Collection[str]], Table]) -> None:
        self.build = build

    def fit(self, console: Console, options: ConsoleOptions) -> tuple[Table, list[str]]:
        dropped: list[str] = []
        table = self.build(dropped)
        for name in DROP_ORDER:
            if needed_width(table, console, options) <= options.max_width:
                break
            dropped.append(name)
            table = self.build(dropped)
        return table, dropped

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterable[RenderableType]:
        from rich.text import Text

        table, dropped = self.fit(console, options)
        yield table
        if dropped:
            yield Text(
                f"not shown at {options.max_width} columns: {', '.join(dropped)} "
                "(widen the terminal, or see the report)"
            )


def needed_width(table: Table, console: Console, options: ConsoleOptions) -> int:
    """Columns that never wrap need their widest cell; folding ones their min_width; each
    column adds its padding and a border. (rich's own measure lets a no-wrap column
    shrink, and then cuts it.)"""
    from rich.measure import Measurement

    total = 1  # the left border
    for column in table.columns:
        if column.no_wrap:
            cells = [column.header, *column.cells]
            width = max(Measurement.get(console, options, cell).maximum for cell in cells)
        else:
            width = column.min_width or 1
        total += width + 3  # one space of padding either side, one border
    return total


def summary_with_disclosure(
    disclosure: str | None, build: Callable[[Collection[str]], Table]
) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = [Text(disclosure)] if disclosure else []
    return Group(*parts, FittedTable(build))
