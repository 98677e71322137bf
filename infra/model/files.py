"""The one way the tool reads a file it did not make, and the one way it writes a file.

Reading (``read_regular_file``): only a regular file, opened without blocking and checked on the open
descriptor, never more than a limit (a file over it is refused here, ``TooLarge``, not by each caller): a named
pipe named like a tenant file (or like the schema ``init`` refreshes) cannot hang a run, nor a link to /dev/zero
fill its memory. Every file read is remembered, so a
write can tell an input from an output.

Writing (``atomic_writer``): whole or not at all, never a half-written file left behind, and only over a
regular file. A rename puts the new file in place, so a device, a named pipe or a process substitution
(``--out >(jq .)``) at the path would be replaced by a plain file, a device for the whole machine when run
as root: such a target is refused before anything is written (``NotARegularFile``), and so is a symbolic
link, which a repository could carry to aim the tool's output at any file on the machine. A document written for
``--out`` is also refused over any file this run read (``ReadByThisRun``): a tenant file or a
``_defaults.yaml`` is never replaced by a report about it. Every file the tool writes goes through here:
tenant files from ``init`` (never overwriting), the schema beside them, stack settings from ``adopt`` and
the fleet, and the documents of ``--out``/``--report``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# ------------------------------------------------------------------------------------------- reading

_FILE_KINDS = (
    (stat.S_ISREG, "a file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a file is, in words ("a named pipe (FIFO)")."""
    return next((words for test, words in _FILE_KINDS if test(mode)), "a special file")


def os_error_message(exc: OSError, path: str | Path) -> str:
    """Why ``path`` could not be opened, said so that the user knows what to change."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link points back at itself; fix or remove it"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "symbolic link to a missing file; fix or remove the link"
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: make it (and its folders) readable by this user"
    if exc.errno == errno.ENOTDIR:
        return "a part of this path is a file, not a folder"
    if exc.errno == errno.ENXIO:
        return "not a regular file (a socket or a device with nothing behind it)"
    return f"cannot read it: {exc.strerror or type(exc).__name__}"


class Unreadable(Exception):
    """A path that cannot be read as the file expected there; the message says why and what to do."""


class TooLarge(Unreadable):
    """A regular file holding more than the reader's limit: nothing of it is returned. Said, unless the caller
    says it in its own words, as "larger than N bytes; not <what was expected>"."""

    def __init__(self, size: int, limit: int, expected: str) -> None:
        super().__init__(f"larger than {limit:,} bytes; not {expected}")
        self.size = size
        """The file's size (at least ``limit`` + 1 bytes, when it grew while it was read)."""
        self.limit = limit


_read: set[tuple[int, int]] = set()
"""(device, inode) of every file this process read through ``read_regular_file``."""


def read_regular_file(path: str | Path, limit: int, *, expected: str = "a text file") -> bytes:
    """The whole of the regular file at ``path``, at most ``limit`` bytes; raises TooLarge for a larger one and
    Unreadable for anything else, saying what it is."""
    data, size = _read_at_most(path, limit + 1, expected)
    if len(data) > limit:
        raise TooLarge(max(len(data), size), limit, expected)
    return data


def read_file_head(path: str | Path, count: int, *, expected: str = "a text file") -> bytes:
    """The first ``count`` bytes (or fewer, the whole file) of the regular file at ``path``, however large it is;
    raises Unreadable as ``read_regular_file`` does."""
    return _read_at_most(path, count, expected)[0]


def _read_at_most(path: str | Path, count: int, expected: str) -> tuple[bytes, int]:
    """At most ``count`` bytes of the regular file at ``path``, and its size when it was opened.

    Opened non-blocking and checked with fstat on the open descriptor (not on the path, which could change
    in between), so a FIFO is refused instead of hanging the run and /dev/zero instead of read forever.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Unreadable(os_error_message(exc, path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{file_kind(info.st_mode)}, not a file: expected {expected} here")
        _read.add((info.st_dev, info.st_ino))
        # Straight from the descriptor (no buffered file object per file), asking for no more than the file
        # holds plus one byte (up to ``count``), so a file that grew past a limit since fstat is still caught.
        wanted = min(info.st_size + 1, count)
        chunks = []
        while wanted > 0:
            chunk = os.read(fd, wanted)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
    except OSError as exc:
        raise Unreadable(os_error_message(exc, path)) from None
    finally:
        os.close(fd)
    return b"".join(chunks), info.st_size


def files_read() -> frozenset[tuple[int, int]]:
    """What this process has read, to be handed to ``remember_read`` in the process that writes."""
    return frozenset(_read)


def remember_read(read: Iterable[tuple[int, int]]) -> None:
    """Count files another process read for this run (a large fleet is checked in several) as read here."""
    _read.update(read)


# ------------------------------------------------------------------------------------------- writing


class TargetRefused(Exception):
    """A write refused before anything was written; the message says why, in words about the target."""


class NotARegularFile(TargetRefused):
    """The path names a device, a named pipe, a socket or a folder (perhaps through a link)."""


class ReadByThisRun(TargetRefused):
    """The path names a file this run read: an input is never replaced by an output."""


class FileExists(FileExistsError):
    """``exclusive`` was asked for and the file is already there: nothing was written."""


_NOT_REGULAR = (
    "not a regular file: the tool writes a file whole, by renaming a new one into place, never through a "
    "symbolic link nor over a device, a pipe or a socket"
)


def writable_target(path: Path, *, inputs_protected: bool = False) -> None:
    """Raise when a write to ``path`` must not happen: NotARegularFile when something other than a regular
    file is there (a symbolic link, whatever it points to: a link committed to a repository could aim a report
    at any file of the machine; and a device, a pipe, a socket: /dev/stdout and /dev/fd/63 are links to such);
    with ``inputs_protected``, ReadByThisRun when it is a file this run read (through a link too). Other
    problems (a missing folder, no permission) are left to the write itself, which says them."""
    try:
        info = os.stat(path)  # follows links: what the path names
    except OSError:
        info = None
    if info is not None and inputs_protected and (info.st_dev, info.st_ino) in _read:
        raise ReadByThisRun("a file this run read as input: an output never replaces an input")
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return  # nothing there yet
    if link:
        pointed = f"to {file_kind(info.st_mode)}" if info is not None else "to nothing that exists"
        raise NotARegularFile(f"a symbolic link {pointed}, {_NOT_REGULAR}")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise NotARegularFile(f"{file_kind(info.st_mode)}, {_NOT_REGULAR}")


@contextmanager
def atomic_writer(path: Path, *, exclusive: bool = False, inputs_protected: bool = False) -> Iterator[TextIO]:
    """A text stream whose content becomes ``path`` in one rename when the block ends without error.

    A reader sees the old file or the new one, never a mix, and an error inside the block leaves the
    old file as it was. An existing file keeps its permission bits. The target is checked
    (``writable_target``) before anything is written and again right before the rename. With ``exclusive``
    an existing file is never replaced (raises FileExists), checked at the rename itself (a hard link), so
    two writers cannot both win.
    """
    if not exclusive:  # exclusive: anything at all there, a dangling link included, is taken (FileExists)
        writable_target(path, inputs_protected=inputs_protected)
    target = path
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() and not exclusive else 0o644
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        if exclusive:
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise FileExists(f"{path} already exists") from None
            os.unlink(temporary)
        else:
            writable_target(target, inputs_protected=inputs_protected)
            try:
                replaced = os.stat(target)
            except OSError:
                replaced = None
            os.replace(temporary, target)
            if replaced is not None:
                # The file read before is gone: its inode may now be given to any new file (a report written
                # later), which must not be taken for an input this run read.
                _read.discard((replaced.st_dev, replaced.st_ino))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str, *, exclusive: bool = False, inputs_protected: bool = False) -> None:
    """Write ``text`` to ``path`` as ``atomic_writer`` does."""
    with atomic_writer(path, exclusive=exclusive, inputs_protected=inputs_protected) as handle:
        handle.write(text)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it; True when it was written.

    The file there is read only as a regular file and only as far as ``text`` goes (one byte more shows it
    differs): a named pipe or a link to /dev/zero in its place is refused by the write, not waited on."""
    wanted = text.encode("utf-8")
    try:
        if read_regular_file(path, len(wanted)) == wanted:
            return False
    except Unreadable:
        pass
    write_atomically(path, text)
    return True
