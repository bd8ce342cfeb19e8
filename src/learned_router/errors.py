"""The exception hierarchy: every error learned-router raises derives from
:class:`LearnedRouterError`, so callers can catch the package's errors in one
place. Errors caused by bad arguments or data are also ``ValueError``\\ s.
"""

from __future__ import annotations


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
