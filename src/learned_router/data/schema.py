"""The canonical outcome-log schema: one row per (prompt, model) outcome.

Documented for users in ``docs/data.md``. An :class:`~learned_router.data.OutcomeLog`
keeps it normalised in two tables that share ``(dataset, prompt_id)``:
:data:`PROMPTS_SCHEMA` (one row per prompt) and :data:`OUTCOMES_SCHEMA` (one row
per prompt and model). :data:`OUTCOME_LOG_SCHEMA` is the flat, self-contained
file format users write: both joined, the prompt text repeated on each row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Field:
    """One column of the canonical format."""

    name: str
    type: pa.DataType
    required: bool
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("prompt_id", pa.string(), True, "Identifier of the prompt, unique within its dataset."),
    Field("prompt", pa.string(), True, "The prompt text sent to the model (non-empty)."),
    Field("model", pa.string(), True, "The model that answered, as named in the catalog."),
    Field(
        "quality",
        pa.float64(),
        True,
        "How well the model answered, in [0, 1]; its scale is named by `quality_scale`.",
    ),
    Field("cost_usd", pa.float64(), False, "What the call really cost, in USD (>= 0)."),
    Field("input_tokens", pa.int64(), False, "Billed input tokens (>= 0)."),
    Field("output_tokens", pa.int64(), False, "Billed output tokens (>= 0)."),
    Field(
        "output_chars",
        pa.int64(),
        False,
        "Length of the answer in characters, when token counts are unknown (>= 0).",
    ),
    Field("latency_ms", pa.float64(), False, "End-to-end latency of the call in ms (>= 0)."),
    Field("timestamp", pa.timestamp("us", tz="UTC"), False, "When the call was made (UTC)."),
    Field("task", pa.string(), False, "Task or category of the prompt (e.g. 'math', 'law')."),
    Field("tenant", pa.string(), False, "Tenant or team the call was made for."),
    Field(
        "dataset",
        pa.string(),
        False,
        "Source of the row; defaults to the file's name. Prompt ids are unique per dataset.",
    ),
    Field(
        "quality_scale",
        pa.string(),
        False,
        "Which judge or metric produced `quality`, i.e. its scale: rows with the same "
        "scale are comparable ('correct(0/1)', 'P(win vs gpt-4), judge X', ...).",
    ),
    Field("response", pa.string(), False, "The model's answer."),
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
