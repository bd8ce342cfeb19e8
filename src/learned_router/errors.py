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
