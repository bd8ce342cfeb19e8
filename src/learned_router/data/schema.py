"""The canonical outcome-log schema as Arrow types: one row per (prompt, model) outcome.

The fields are defined once, in :mod:`learned_router.outcome_schema`.

Documented for users in ``docs/data.md``. An :class:`~learned_router.data.OutcomeLog`
keeps it normalised in two tables that share ``(dataset, prompt_id)``:
:data:`PROMPTS_SCHEMA` (one row per prompt) and :data:`OUTCOMES_SCHEMA` (one row
per prompt and model). :data:`OUTCOME_LOG_SCHEMA` is the flat, self-contained
file format users write: both joined, the prompt text repeated on each row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from learned_router import outcome_schema
from learned_router.outcome_schema import arrow_type


@dataclass(frozen=True)
class Field:
    """One column of the canonical format, with its Arrow type."""

    name: str
    type: pa.DataType
    required: bool
    doc: str


#: The canonical fields (:data:`learned_router.outcome_schema.FIELDS`) with Arrow types.
FIELDS: tuple[Field, ...] = tuple(
    Field(f.name, arrow_type(f.kind), f.required, f.doc) for f in outcome_schema.FIELDS
)

FIELD_BY_NAME = {field.name: field for field in FIELDS}
REQUIRED = tuple(field.name for field in FIELDS if field.required)

#: The flat file format: every field, the prompt repeated on each row.
OUTCOME_LOG_SCHEMA = pa.schema([pa.field(f.name, f.type, nullable=not f.required) for f in FIELDS])

_PROMPT_FIELDS = ("dataset", "prompt_id", "prompt", "task")
#: One row per prompt.
PROMPTS_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("task", pa.string()),
    ]
)
#: One row per (prompt, model) outcome.
OUTCOMES_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
    ]
    + [
        pa.field(f.name, f.type, nullable=not f.required)
        for f in FIELDS
        if f.name not in _PROMPT_FIELDS
    ]
)

DEFAULT_QUALITY_SCALE = "unspecified"
