"""User-facing errors: one sentence naming the offending input and the fix.

The CLI prints these without a traceback and exits non-zero; any other exception is a bug.
"""

from __future__ import annotations


class SemalignError(ValueError):
    """Bad input or configuration that the user can fix."""


class InputError(SemalignError):
    """An input array, file or argument is unusable (shape, dtype, NaN, unreadable)."""


class FormatError(SemalignError):
    """A saved artefact has an unknown or newer format, or metadata that does not fit it."""


class RankDeficientError(InputError):
    """The anchors' numerical rank is too low for the requested map to be determined.

    ``rank`` is the measured numerical rank of the (preprocessed) source anchors and ``needed`` the
    rank the method requires; the message says what to do (ridge, fewer dimensions, more distinct
    anchors).
    """

    def __init__(self, message: str, *, rank: int, needed: int) -> None:
        super().__init__(message)
        self.rank = rank
        self.needed = needed
