"""The answer cache: repeated and paraphrased requests answered from earlier
answers, never across tenants, never for a look-alike question.

:class:`SemanticCache` has two tiers: an exact tier in the Rust core (a hash
of the normalised prompt and of everything that changes the answer) and a
semantic tier over embeddings of the prompt's key text, guarded by lexical
checks against false hits. See ``docs/cache.md`` for the design and the
measurements behind its defaults.

>>> from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache
>>> cache = SemanticCache(embed=HashingEmbedder(), config=CacheConfig(max_entries=10_000))
>>> _ = cache.store("What is the capital of France?", "Paris", tenant="acme", cost_usd=0.001)
>>> cache.lookup("what is the capital of france", tenant="acme").response
'Paris'
>>> cache.lookup("What is the capital of Spain?", tenant="acme") is None
True
"""

from learned_router.cache.embedding import HashingEmbedder
from learned_router.cache.encoder import CacheEncoder
from learned_router.cache.guards import GuardReason, Guards
from learned_router.cache.keys import CacheKey
from learned_router.cache.semantic import (
    CacheCandidate,
    CacheConfig,
    CacheHit,
    CacheStats,
    Embed,
    SemanticCache,
    Verifier,
)
from learned_router.cache.verifier import PairVerifier

__all__ = [
    "CacheCandidate",
    "CacheConfig",
    "CacheEncoder",
    "CacheHit",
    "CacheKey",
    "CacheStats",
    "Embed",
    "GuardReason",
    "Guards",
    "HashingEmbedder",
    "PairVerifier",
    "SemanticCache",
    "Verifier",
]
