"""Characters a person cannot see, named so that they can find them, and the ones a value may not hold.

A tenant file value is one line of visible text: a pasted zero-width space or line break is refused where it is
(``invisible_char``), and every message names a character by its code point and Unicode name
(``describe_char``), since printing it would show nothing.
"""

from __future__ import annotations

import unicodedata

from taxcalc_consent.infra.model.errors import HIDDEN_CATEGORIES

# C0 controls have no Unicode name; these are the ones people meet in pasted text.
_CONTROL_NAMES = {
    0x00: "NUL",
    0x07: "BEL",
    0x08: "BACKSPACE",
    0x09: "TAB",
    0x0A: "LINE FEED",
    0x0B: "VERTICAL TAB",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESC",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
}


def describe_char(char: str) -> str:
    """A character named so a person can find it even when it is invisible: "U+200B (ZERO WIDTH SPACE)"."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8, as Python holds it
        return f"the byte 0x{code - 0xDC00:02X} (the name is not UTF-8: Latin-1 from a Windows zip, say)"
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code, "")
    if not name:
        name = "a control character" if unicodedata.category(char) == "Cc" else "an unnamed character"
    return f"U+{code:04X} ({name})"


# Characters that print as nothing, or as something else (errors.HIDDEN_CATEGORIES: format characters such as
# the zero-width space, joiners and bidirectional overrides, controls, line and paragraph separators, private-use
# and unassigned code points) are refused in a value; the same set is escaped wherever text is shown
# (errors.printable).
_ALLOWED_CONTROLS = frozenset("\t")

LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")
"""Every character that breaks a line somewhere: LF and CR; VT and FF; NEL (U+0085), LINE SEPARATOR and
PARAGRAPH SEPARATOR, which YAML 1.1 itself reads as line breaks. A tenant file value is one line, whatever it
is (a name, an id, a reason): a value holding one could print a line of its own in the tool's output, such as
a forged "ok" for another tenant."""


def invisible_char(value: str) -> str | None:
    """A message naming the first line break or invisible character in ``value``, or None when there is none."""
    for index, char in enumerate(value):
        if char in LINE_BREAKS:
            return (
                f"contains a line break, {describe_char(char)}, at position {index + 1}: a value is one line, so "
                "remove it (a block scalar, | or >, keeps its last line break unless written |- or >-)"
            )
        if char not in _ALLOWED_CONTROLS and unicodedata.category(char) in HIDDEN_CATEGORIES:
            return (
                f"contains the invisible character {describe_char(char)} at position {index + 1}: "
                "delete it (retype the value rather than pasting it)"
            )
    return None
