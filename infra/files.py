"""The one way the tool writes a file: whole or not at all, never a half-written file left behind.

Every file the tool writes goes through here: tenant files from ``init`` (never overwriting), the
schema beside them, stack settings from ``adopt``, and the documents of ``--out``/``--report``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class FileExists(FileExistsError):
    """``exclusive`` was asked for and the file is already there: nothing was written."""


@contextmanager
def atomic_writer(path: Path, *, exclusive: bool = False) -> Iterator[TextIO]:
    """A text stream whose content becomes ``path`` in one rename when the block ends without error.

    A reader sees the old file or the new one, never a mix, and an error inside the block leaves the
    old file as it was. An existing file keeps its permission bits. With ``exclusive`` an existing file
    is never replaced (raises FileExists), checked at the rename itself (a hard link), so two writers
    cannot both win.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() and not exclusive else 0o644
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        if exclusive:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise FileExists(f"{path} already exists") from None
            os.unlink(temporary)
        else:
            os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` as ``atomic_writer`` does."""
    with atomic_writer(path, exclusive=exclusive) as handle:
        handle.write(text)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it; True when it was written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_atomically(path, text)
    return True
