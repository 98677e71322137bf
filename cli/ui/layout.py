"""How people's output fits a width: prose wraps at spaces only, and a table too narrow for its longest tokens
stacks its rows instead, so a UPN, a GUID, a scope or a path is never cut, folded or elided.

Rich on its own folds a word longer than its column mid-word and wraps prose wherever the line ends; a UPN split
over two lines in a CI log, or ``jane.doe@bluebe…``, hides exactly what is being granted. Here a token longer than
the whole width is left whole on a line of its own (a terminal may then wrap it: that is the terminal's doing,
and ``grep`` on a log still finds it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

_TOKEN = re.compile(r"\S+")

HANGING_INDENT = 4
"""How much further than its first line a wrapped line's continuation lines start."""


def wrap_spans(plain: str, width: int, hanging: int = HANGING_INDENT) -> list[tuple[int, int, int]]:
    """Where to break ``plain`` into lines of at most ``width`` cells, at spaces only: ``(indent, start, end)``
    per line. The first line keeps its own leading spaces; the others start ``hanging`` further in."""
    from rich.cells import cell_len

    lead = len(plain) - len(plain.lstrip(" "))
    rest_indent = lead + hanging
    spans: list[tuple[int, int, int]] = []
    begin, end, indent = 0, lead, 0
    for match in _TOKEN.finditer(plain):
        if end > begin and end > lead and indent + cell_len(plain[begin : match.end()]) > width:
            spans.append((indent, begin, end))
            begin, indent = match.start(), rest_indent
        end = match.end()
    spans.append((indent, begin, max(end, begin)))
    return spans


def wrap_plain(plain: str, width: int) -> list[str]:
    """``plain`` as lines of at most ``width`` cells, broken at spaces only."""
    return [" " * indent + plain[start:end] for indent, start, end in wrap_spans(plain, width)]


def wrap_text(text: Text, width: int) -> list[Text]:
    """A rich Text as lines broken at spaces only, each keeping its styles."""
    from rich.text import Text

    lines = []
    for indent, start, end in wrap_spans(text.plain, width):
        line = Text(" " * indent, end="")
        line.append_text(text[start:end])
        lines.append(line)
    return lines


def longest_token(cell: object) -> int:
    from rich.cells import cell_len
    from rich.text import Text

    plain = cell.plain if isinstance(cell, Text) else cell if isinstance(cell, str) else ""
    return max((cell_len(token) for token in plain.split()), default=0)


def _widest_line(cell: object) -> int:
    from rich.cells import cell_len
    from rich.text import Text

    plain = cell.plain if isinstance(cell, Text) else cell if isinstance(cell, str) else ""
    return max((cell_len(line) for line in plain.split("\n")), default=0)


def fit_columns(table: Table, width: int) -> None:
    """Give each column a fixed width within ``width``: its widest cell where all fit, else narrower, the column
    with the most room above its longest token first, never below that token (rich's own sharing may)."""
    columns = table.columns
    least = [max([longest_token(c.header), *(longest_token(cell) for cell in c.cells)]) for c in columns]
    widths = [max([_widest_line(c.header), *(_widest_line(cell) for cell in c.cells)]) for c in columns]
    room = width - (minimum_width(table) - sum(least))
    while sum(widths) > room:
        index = max(range(len(widths)), key=lambda k: widths[k] - least[k])
        if widths[index] <= least[index]:
            break
        widths[index] -= 1
    for column, fitted in zip(columns, widths, strict=True):
        column.width = fitted
        column.overflow = "fold"  # wraps at spaces; with every token fitting, it never has a word to fold


def minimum_width(table: Table) -> int:
    """The narrowest the table can be with every token whole: each column its longest token and its padding,
    and the borders between and around the columns."""
    _, right, _, left = table.padding
    widest = [max([longest_token(c.header), *(longest_token(cell) for cell in c.cells)]) for c in table.columns]
    borders = (2 if table.show_edge else 0) + len(widest) - 1 if table.box else 0
    return sum(width + left + right for width in widest) + borders


def stacked_rows(table: Table) -> list[Text]:
    """The table as lines, a row at a time: ``- header: value`` for its first column, ``  header: value`` for
    the others. What a table becomes where its columns cannot all hold their longest tokens."""
    from rich.text import Text

    headers = [column.header if isinstance(column.header, str) else "" for column in table.columns]
    columns = [list(column.cells) for column in table.columns]
    lines: list[Text] = []
    for row in zip(*columns, strict=True):
        for index, (header, cell) in enumerate(zip(headers, row, strict=True)):
            value = cell if isinstance(cell, Text) else Text(str(cell))
            if not value.plain.strip():
                continue
            line = Text("- " if index == 0 else "  ")
            if header:
                line.append(f"{header}: ", style="dim")
            line.append_text(value)
            lines.append(line)
    return lines


def people_console(**options: Any) -> Console:
    """A rich Console whose ``print`` of one text wraps it at spaces, and of one table stacks it when the table
    cannot hold its longest tokens: every ``err.print`` of the CLI, whatever module calls it."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    class PeopleConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            if len(objects) == 1 and isinstance(objects[0], Table):
                self._table(objects[0])
                return
            if len(objects) == 1 and isinstance(objects[0], (str, Text)) and kwargs.get("end", "\n") == "\n":
                single = objects[0]
                style = kwargs.get("style") or ""
                text = single.copy() if isinstance(single, Text) else Text(single, style=style)
                if isinstance(single, Text) and style:
                    text.stylize(style)
                self._prose(text)
                return
            super().print(*objects, **kwargs)

        def _prose(self, text: Text) -> None:
            from taxcalc_consent.cli.ui.console import escaped

            for line in text.split("\n", allow_blank=True):
                for part in wrap_text(escaped(line), self.width):
                    super().print(part, soft_wrap=True)

        def _table(self, table: Table) -> None:
            title = table.title
            table.title = None
            if title is not None:
                self._prose(title if isinstance(title, Text) else Text(str(title)))
            if minimum_width(table) <= self.width:
                fit_columns(table, self.width)
                super().print(table, soft_wrap=False)
                return
            for line in stacked_rows(table):
                self._prose(line)

    return PeopleConsole(**options)
