"""Errors that carry their exit code, so the CLI can stay thin."""

from __future__ import annotations


class ProfkitError(Exception):
    """An error shown to the user as one line; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class BadInput(ProfkitError):
    """Bad usage or bad input (a file, a flag, an endpoint): exit code 2."""

    exit_code = 2


class Interrupted(ProfkitError):
    """The user interrupted the command; whatever was captured stays valid."""

    exit_code = 130
