"""The canonical outcome schema, defined once (no pyarrow, no imports of the package).

One row per (prompt, model) outcome. Everything else is derived from
:data:`FIELDS`: the Arrow schemas of outcome logs (:mod:`learned_router.data.schema`),
the outcome store's SQL table and :class:`~learned_router.outcomes.OutcomeRecord`
(:mod:`learned_router.outcomes`). Documented for users in ``docs/data.md``.
Routing and recording outcomes import this module without pyarrow.

>>> [f.name for f in FIELDS if f.required]
['prompt_id', 'prompt', 'model', 'quality']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

Kind = Literal["string", "float64", "int64", "timestamp"]


@dataclass(frozen=True)
class SchemaField:
    """One column: its name, value kind, whether every row needs it, and what it means."""

    name: str
    kind: Kind
    required: bool
    doc: str


FIELDS: tuple[SchemaField, ...] = (
    SchemaField(
        "prompt_id", "string", True, "Identifier of the prompt, unique within its dataset."
    ),
    SchemaField("prompt", "string", True, "The prompt text sent to the model (non-empty)."),
    SchemaField("model", "string", True, "The model that answered, as named in the catalog."),
    SchemaField(
        "quality",
        "float64",
        True,
        "How well the model answered, in [0, 1]; its scale is named by `quality_scale`.",
    ),
    SchemaField("cost_usd", "float64", False, "What the call really cost, in USD (>= 0)."),
    SchemaField("input_tokens", "int64", False, "Billed input tokens (>= 0)."),
    SchemaField("output_tokens", "int64", False, "Billed output tokens (>= 0)."),
    SchemaField(
        "output_chars",
        "int64",
        False,
        "Length of the answer in characters, when token counts are unknown (>= 0).",
    ),
    SchemaField("latency_ms", "float64", False, "End-to-end latency of the call in ms (>= 0)."),
    SchemaField("timestamp", "timestamp", False, "When the call was made (UTC)."),
    SchemaField("task", "string", False, "Task or category of the prompt (e.g. 'math', 'law')."),
    SchemaField("tenant", "string", False, "Tenant or team the call was made for."),
    SchemaField(
        "dataset",
        "string",
        False,
        "Source of the row; defaults to the file's name. Prompt ids are unique per dataset.",
    ),
    SchemaField(
        "quality_scale",
        "string",
        False,
        "Which judge or metric produced `quality`, i.e. its scale: rows with the same "
        "scale are comparable ('correct(0/1)', 'P(win vs gpt-4), judge X', ...).",
    ),
    SchemaField("response", "string", False, "The model's answer."),
)

STORE_FIELDS: tuple[SchemaField, ...] = (
    SchemaField(
        "decision_id",
        "string",
        False,
        "The routing decision the outcome belongs to (the outcome store only; not trained on).",
    ),
)
"""Columns the outcome store keeps beyond the canonical ones."""

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
"""File names an outcome store may have (``learned_router.data.load`` reads them)."""


def arrow_type(kind: Kind) -> pa.DataType:
    """The Arrow type of a field kind (pyarrow imported here, on first use).

    >>> str(arrow_type("timestamp"))
    'timestamp[us, tz=UTC]'
    """
    import pyarrow as pa

    return {
        "string": pa.string(),
        "float64": pa.float64(),
        "int64": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[kind]
