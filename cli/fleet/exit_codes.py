"""Exit codes, as documented in the README. A pipeline acts on these; keep them stable."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Success, or no changes."""
    FAILED = 1
    """An operation failed (other tenants still ran), or the Pulumi CLI is missing."""
    INVALID = 2
    """Invalid input, usage error or mandatory policy violation: nothing was touched."""
    CHANGES = 3
    """Changes pending (plan --detailed-exitcode), drift found, or audit differences."""
