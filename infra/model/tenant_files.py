"""Find the tenant files a command was pointed at, and name their stacks.

A tenants folder holds one YAML file per tenant (the file stem is the tenant's short name, and its Pulumi
stack name); files whose names start with ``_`` or ``.`` are never tenants. A name that is almost a tenant
file's is named, never silently skipped.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from taxcalc_consent.infra.model.characters import describe_char
from taxcalc_consent.infra.model.errors import Problem, TaxcalcConsentError, quote
from taxcalc_consent.infra.model.files import file_kind, os_error_message

TENANT_SUFFIXES = (".yaml", ".yml")


class UsageError(TaxcalcConsentError):
    """The command was pointed at something that is not a tenant file or folder."""


class Collected(NamedTuple):
    """The tenant files a command was pointed at, and what was found beside them."""

    files: list[str]
    """Each file's path as given (a folder's files joined to the folder as given), in argument order."""
    problems: list[Problem]
    """Entries that must be tenant files and cannot be read as one, and near-miss names that are errors."""
    notices: list[Problem]
    """Near-miss names that are not errors: named, not read (warnings)."""


def collect_tenant_files(paths: Sequence[str | Path]) -> Collected:
    """Expand files and folders into tenant files, in argument order, folders in name order.

    Every ``*.yaml``/``*.yml`` entry of a folder must be a readable regular file (a folder, a pipe, a device,
    a broken or looping link is a problem), and an entry named almost like one is named, never silently
    skipped (``near_miss``). ``_``-prefixed files are skipped even when named directly, so ``tenants/*.yaml``
    from a shell works. A path given that cannot be used at all is a UsageError.
    """
    if not paths:
        raise UsageError("no tenant files given: pass tenant files or folders, e.g. examples/tenants")
    found: dict[str, str] = {}
    problems: list[Problem] = []
    notices: list[Problem] = []
    for given in paths:
        try:
            mode = os.stat(given).st_mode
        except OSError as exc:
            missing = exc.errno == errno.ENOENT and not os.path.islink(given)
            raise UsageError(
                f"{given}: {'no such file or folder' if missing else os_error_message(exc, given)}"
            ) from None
        if stat.S_ISDIR(mode):
            folder = os.fspath(given)
            names, refused, noticed = folder_entries(folder)
            problems.extend(refused)
            notices.extend(noticed)
            if not names and not refused:
                raise UsageError(f"{given}: no tenant files (*.yaml) in this folder")
            # A name from the listing is one plain component, so its absolute path is the folder's plus it.
            absolute = os.path.abspath(folder)
            for name in names:
                shown = name if folder == "." else os.path.join(folder, name)
                found.setdefault(os.path.join(absolute, name), shown)
        elif stat.S_ISREG(mode):
            name = os.path.basename(given)
            if not _is_tenant_name(name):
                continue
            if not name.endswith(TENANT_SUFFIXES):
                # One rule for names, named directly or found in a folder: acme.YAML is refused at its file,
                # and a backup (acme.yaml~) or any other file is no tenant file (it would be stack "acme").
                missed = near_miss(name)
                if missed is not None and missed[0]:
                    problems.append(Problem(str(given), 1, 1, "", missed[1]))
                    continue
                kind = " (this one is named like a copy of one, an editor's backup say)" if missed else ""
                raise UsageError(f"{given}: not a tenant file: a tenant file's name ends in .yaml or .yml{kind}")
            found.setdefault(os.path.abspath(given), str(given))
        else:
            raise UsageError(f"{given}: {file_kind(mode)}, not a file: pass tenant files (*.yaml) or folders of them")
    if not found and not problems:
        raise UsageError("no tenant files among the paths given (files starting with _ are not tenants)")
    return Collected(list(found.values()), problems, notices)


def folder_entries(folder: str) -> tuple[list[str], list[Problem], list[Problem]]:
    """The tenant file names in ``folder``, sorted; a problem for each *.yaml entry that is no file and for
    each near-miss name that is an error; a notice for each near-miss name that is not (``near_miss``)."""
    names: list[str] = []
    problems: list[Problem] = []
    notices: list[Problem] = []
    try:
        # os.scandir and name strings: Path objects per child cost more than validating a small file.
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if not (name.endswith(TENANT_SUFFIXES) and _is_tenant_name(name)):
                    missed = near_miss(name)
                    if missed is not None:
                        is_error, why = missed
                        shown = name if folder == "." else os.path.join(folder, name)
                        (problems if is_error else notices).append(Problem(shown, 1, 1, "", why))
                    continue
                try:
                    if entry.is_file():  # follows a symbolic link, as reading the file will
                        names.append(name)
                        continue
                    why = f"{file_kind(entry.stat().st_mode)}, not a file: a *.yaml entry here must be a tenant file"
                except OSError as exc:
                    why = os_error_message(exc, entry.path)
                shown = name if folder == "." else os.path.join(folder, name)
                problems.append(Problem(shown, 1, 1, "", why))
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list this folder: {os_error_message(exc, folder)}") from None
    return sorted(names), sorted(problems), sorted(notices)


def near_miss(name: str) -> tuple[bool, str] | None:
    """Whether a folder entry that is not read as a tenant file was probably meant as one (or is a copy of
    one), and what to say: (True, why) for an error, (False, why) for a warning, None for neither.

    Errors: a tenant file's suffix in another case (``acme.YAML``, ``acme.Yml``), or followed by blanks or dots
    (``acme.yaml ``): written as a tenant, and on a case-insensitive file system (Windows, macOS) read as one,
    so a run here that skipped it would pass a tenant it never checked. Warnings: a name holding ``.yaml`` or
    ``.yml`` with more after it (``acme.yaml~``, ``acme.yaml.bak``, ``acme.yml.orig``, ``#acme.yaml#``): an
    editor's backup or a copy set aside, named so that it is noticed, not read. Names starting with ``_`` or
    ``.`` are never tenants (``_defaults.yaml``'s own near misses are refused where defaults are read)."""
    if name.startswith(("_", ".")):
        return None
    folded = name.casefold()
    if ".y" not in folded:  # the common case: README.md, notes.txt
        return None
    base = name.rstrip(" .\t")
    if base.lower().endswith(TENANT_SUFFIXES):
        stem = base[: -5 if base.lower().endswith(".yaml") else -4]
        return True, (
            f"not read: a tenant file's name ends in .yaml or .yml, and this one in {quote(name[len(stem) :])}, "
            "which Windows and macOS read as a tenant file (skipped here, it would pass without a check); rename "
            f"it to {stem}.yaml, or move it out of this folder if it is no tenant"
        )
    if any(mark in folded for mark in TENANT_SUFFIXES):
        return False, (
            "warning: not read: named like a copy of a tenant file (an editor's backup or a file set aside); "
            "delete it or move it out of this folder, or rename it to end in .yaml if it is a tenant"
        )
    return None


STACK_NAME_MAX = 100
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
_TENANT_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def tenant_name_problem(name: str, *, fix: str = "rename the file, e.g. to {}.yaml") -> str | None:
    """Why ``name`` (a tenant file's name without .yaml) cannot be a tenant's short name; None when it can.

    The short name is the tenant's Pulumi stack name, so it follows Pulumi's rule for stack names
    (pulumi/pulumi sdk/go/common/tokens/stack.go, ParseStackName: letters, digits, -, _ and ., 1 to 100
    characters) and starts with a letter or digit (a leading _ or . marks a file that is not a tenant, and
    a leading - would read as an option). Names are also unique without regard to case across every file
    a command reads (see across_files): Contoso and contoso are one stack on a case-insensitive
    file system. ``validate``, ``init`` and the fleet's preflight all ask this one function; ``fix`` says
    what to do, with ``{}`` for a suggested name.
    """
    if _TENANT_NAME.fullmatch(name):  # the common case, without building a suggestion
        return None
    # "Café Crème & Co" -> "Cafe-Creme-Co": accents dropped, anything else outside the rule becomes "-".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    suggestion = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name).strip("-_.")[:STACK_NAME_MAX]
    rename = "; " + (fix.format(suggestion) if suggestion and suggestion != name else fix.split(", e.g.")[0])
    stack = "the file name without .yaml is the tenant's Pulumi stack name"
    if not name:
        return f"an empty tenant name: {stack}{rename}"
    for index, char in enumerate(name):
        if char not in _TENANT_NAME_CHARS:
            what = repr(char) if char.isascii() and char.isprintable() else describe_char(char)
            return (
                f"{what} at position {index + 1} is not allowed in a tenant name: {stack}, which takes only "
                f"letters A-Z a-z, digits, - _ and .{rename}"
            )
    if not name[0].isalnum():
        return f"a tenant name starts with a letter or digit: {stack}{rename}"
    if len(name) > STACK_NAME_MAX:
        return f"a tenant name of {len(name)} characters: {stack}, which takes at most {STACK_NAME_MAX}{rename}"
    return None


def _is_tenant_name(name: str) -> bool:
    return not name.startswith(("_", "."))
