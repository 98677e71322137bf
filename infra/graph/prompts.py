"""Where the Graph layer says something to the person at the keyboard, mid-call: the device code to enter.

The layer prints nothing itself: the command line hands it its own way of saying a line (``cli.main`` passes
``console.say``: standard error, escaped, wrapped at spaces to the terminal), so a code from Entra is shown as
every other line is, and ``--json`` output stays a document. Without one (a library caller), a plain escaped line
on standard error. Kept free of imports so the command line can wire it at start-up for nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

_say: Callable[[str], None] | None = None


def say_with(say: Callable[[str], None]) -> None:
    """Route the layer's lines to ``say`` (the command line's ``console.say``)."""
    global _say
    _say = say


def say(text: str) -> None:
    """One line for the person at the keyboard."""
    if _say is not None:
        _say(text)
        return
    from taxcalc_consent.infra.model.errors import printable

    print(printable(text), file=sys.stderr, flush=True)
