"""learned-router: send every LLM prompt to the cheapest model that answers it well.

The public API is what this module exports; everything else is internal.

>>> import learned_router
>>> sel = learned_router.select_models([0.9, 0.7], [0.01, 0.001], min_quality=0.6)
>>> int(sel.index[0])
1
"""

from learned_router._core import __version__
from learned_router.cache import CacheConfig, CacheHit, CacheStats, SemanticCache
from learned_router.errors import CacheFileError, InvalidInputError, LearnedRouterError
from learned_router.selection import Outcome, Selection, select_models

__all__ = [
    "CacheConfig",
    "CacheFileError",
    "CacheHit",
    "CacheStats",
    "InvalidInputError",
    "LearnedRouterError",
    "Outcome",
    "Selection",
    "SemanticCache",
    "__version__",
    "select_models",
]
