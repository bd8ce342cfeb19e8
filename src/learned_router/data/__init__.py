"""Outcome logs: the canonical schema, loaders for the formats users bring,
validation that never drops a row silently, and splits by prompt.

>>> from learned_router import data
>>> sorted(data.FORMATS)
['canonical', 'pairwise', 'routerbench', 'split', 'store']
"""

from learned_router.data.loaders import FORMATS, detect_format, load, pairwise_to_outcomes
from learned_router.data.log import LoadReport, ModelSummary, OutcomeLog, OutcomeMatrix, PromptKey
from learned_router.data.schema import FIELDS, OUTCOME_LOG_SCHEMA
from learned_router.data.splits import Splits, check_no_leakage, prompt_group, split_prompts
from learned_router.data.validation import Problem

__all__ = [
    "FIELDS",
    "FORMATS",
    "OUTCOME_LOG_SCHEMA",
    "LoadReport",
    "ModelSummary",
    "OutcomeLog",
    "OutcomeMatrix",
    "Problem",
    "PromptKey",
    "Splits",
    "check_no_leakage",
    "detect_format",
    "load",
    "pairwise_to_outcomes",
    "prompt_group",
    "split_prompts",
]
