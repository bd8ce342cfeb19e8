"""learned-router: send every LLM prompt to the cheapest model that answers it well.

The public API is what this module exports; everything else is internal.

    router = learned_router.Router.load()          # models/default, a folder, or models:/NAME@ALIAS
    decision = router.route(prompt, min_quality=0.8)

The selection kernel on its own:

>>> import learned_router
>>> sel = learned_router.select_models([0.9, 0.7], [0.01, 0.001], min_quality=0.6)
>>> int(sel.index[0])
1
"""

from learned_router._core import __version__
from learned_router.cache import CacheConfig, CacheHit, CacheStats, SemanticCache
from learned_router.catalog import Catalog, ModelSpec
from learned_router.errors import (
    BundleError,
    CacheFileError,
    CatalogError,
    DataValidationError,
    InvalidInputError,
    LearnedRouterError,
)
from learned_router.live_catalog import LiveCatalog
from learned_router.outcomes import OutcomeRecord, OutcomeStore
from learned_router.policy_calibration import Calibration
from learned_router.router import CandidateEstimate, NoModelAvailableError, RouteDecision, Router
from learned_router.selection import Outcome, Selection, select_models

__all__ = [
    "BundleError",
    "CacheConfig",
    "CacheFileError",
    "CacheHit",
    "CacheStats",
    "Calibration",
    "CandidateEstimate",
    "Catalog",
    "CatalogError",
    "DataValidationError",
    "InvalidInputError",
    "LearnedRouterError",
    "LiveCatalog",
    "ModelSpec",
    "NoModelAvailableError",
    "Outcome",
    "OutcomeRecord",
    "OutcomeStore",
    "RouteDecision",
    "Router",
    "Selection",
    "SemanticCache",
    "__version__",
    "select_models",
]
