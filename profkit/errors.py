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


class NothingCaptured(ProfkitError):
    """A capture that got no data at all from a target (or a collector crashed): exit code 3.

    The bundle is complete and keeps what the other targets gave; the capture's summary and the
    ``no-data`` finding of ``profkit analyze`` say what is missing and why.
    """

    exit_code = 3
