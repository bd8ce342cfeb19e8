"""The exception hierarchy: every error learned-router raises derives from
:class:`LearnedRouterError`, so callers can catch the package's errors in one
place. Errors caused by bad arguments or data are also ``ValueError``\\ s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from learned_router.data.validation import Problem


class LearnedRouterError(Exception):
    """Base class of every error raised by learned-router."""


class InvalidInputError(LearnedRouterError, ValueError):
    """An argument has the wrong shape, type or value.

    The message names the argument, where in it the problem is, and how to fix
    it. Raised by the Rust core for bad arrays and by the Python API for bad
    options.

    >>> raise InvalidInputError("invalid argument `p`: p[0, 2] = nan; ...")
    Traceback (most recent call last):
    ...
    learned_router.errors.InvalidInputError: invalid argument `p`: p[0, 2] = nan; ...
    """


class DataValidationError(LearnedRouterError, ValueError):
    """An outcome log failed validation.

    ``problems`` lists every problem found, each naming the file, row and
    field and saying how to fix it; the message shows the first few.
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class CatalogError(LearnedRouterError, ValueError):
    """A model catalog (price table) is invalid, or a model is not in it."""


class BundleError(LearnedRouterError):
    """A model bundle is missing, incomplete, tampered with, or of an unknown version."""


class BenchmarkError(LearnedRouterError):
    """The routing benchmark cannot run as asked (e.g. a held-out prompt leaked into training)."""


class DatasetNotUsableError(BenchmarkError):
    """A dataset cannot be benchmarked (too few models, or an empty split); it is skipped."""


class CacheFileError(LearnedRouterError):
    """A saved cache file cannot be loaded: it is missing, truncated, damaged,
    from an unknown format version, or was built with a different encoder.

    The message names the file and the check that failed. A crash while saving
    never produces this for the file being replaced (saves write a temporary
    file and rename it into place); a damaged file means the disk or another
    program changed it. Delete it to start with an empty cache.

    >>> raise CacheFileError("cache.lrc: checksum of section 'entries' does not match")
    Traceback (most recent call last):
    ...
    learned_router.errors.CacheFileError: cache.lrc: checksum of section 'entries' does not match
    """
