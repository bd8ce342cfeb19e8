"""Validation of outcome logs: every problem located by file, row and field.

Checks run on the two normalised tables a loader produces (prompts and
outcomes, each carrying ``_file`` and ``_row``: the source file and its 1-based
data row). Nothing is dropped silently: a check either flags rows as problems
(the load fails, or the rows go to a rejects file when the caller opts in), or
it merges exact duplicates and counts them in the load report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from learned_router.errors import DataValidationError

#: Maps (canonical field, model) to the column name in the source file, so that
#: problems in wide formats name the column the user actually has.
FieldLabel = Callable[[str, str], str]


def canonical_label(field_name: str, model: str) -> str:
    """Field labels for long formats: the canonical field name itself."""
    return field_name


@dataclass(frozen=True)
class Problem:
    """One validation problem, located precisely."""

    file: str
    row: int | None
    """1-based data row in ``file`` (the header is not counted); None for file-level problems."""
    field: str | None
    message: str
    fix: str
    kind: str
    """Short machine-readable category, e.g. ``quality_out_of_range``."""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}. Fix: {self.fix}"


@dataclass
class Findings:
    """Problems plus which rows of each table they make unusable."""

    problems: list[Problem] = field(default_factory=list)
    bad_prompts: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    bad_outcomes: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    merged_duplicates: int = 0
    keep_outcomes: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Rows kept after merging exact duplicates (bad rows are also False)."""


def raise_if_problems(problems: Sequence[Problem], *, shown: int = 20) -> None:
    """Raises :class:`DataValidationError` summarising ``problems``, if any."""
    if not problems:
        return
    kinds = Counter(problem.kind for problem in problems)
    files = sorted({problem.file for problem in problems})
    lines = [
        f"{len(problems)} problem(s) in {', '.join(files)} "
        f"({', '.join(f'{kind}: {n}' for kind, n in kinds.most_common())}):"
    ]
    lines += [f"  - {problem}" for problem in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more (see the exception's .problems)")
    lines.append(
        "Nothing was loaded. Fix the rows, or set the bad rows aside with "
        "rejects=PATH (CLI: --rejects PATH) to load the rest."
    )
    raise DataValidationError("\n".join(lines), problems)


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


def _rows_where(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    return np.flatnonzero(mask)


def _float_values(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Values as float64 (NaN where null) and the null mask."""
    is_null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(
        pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(), dtype=np.float64
    )
    return values, is_null


class _Collector:
    def __init__(self, table: pa.Table, labels: dict[str, FieldLabel]) -> None:
        self.table = table
        self.files = table.column("_file").to_pylist()
        self.rows = table.column("_row").to_pylist()
        models = _column(table, "model")
        self.models = models.to_pylist() if models is not None else None
        self.labels = labels
        self.bad = np.zeros(table.num_rows, dtype=bool)
        self.problems: list[Problem] = []

    def flag(
        self,
        mask: npt.NDArray[np.bool_],
        field_name: str,
        kind: str,
        message: Callable[[int], str],
        fix: str,
    ) -> None:
        for i in _rows_where(mask):
            file = self.files[i]
            label = field_name
            if self.models is not None:
                label = self.labels.get(file, canonical_label)(field_name, self.models[i] or "")
            self.problems.append(Problem(file, self.rows[i], label, message(i), fix, kind))
        self.bad |= mask


def _describe(name: str, values: npt.NDArray[np.float64], complaint: str) -> Callable[[int], str]:
    """A message function for row ``i``: "<name> = <value> <complaint>"."""

    def message(i: int) -> str:
        return f"{name} = {values[i]:g} {complaint}"

    return message


def check_prompts(prompts: pa.Table, labels: dict[str, FieldLabel]) -> _Collector:
    """Empty or missing prompt text and ids; one id with two different texts."""
    found = _Collector(prompts, labels)
    ids = prompts.column("prompt_id").to_pylist()
    texts = prompts.column("prompt").to_pylist()
    missing_id = np.array([not (i and str(i).strip()) for i in ids], dtype=bool)
    found.flag(
        missing_id,
        "prompt_id",
        "missing_prompt_id",
        lambda i: "prompt_id is empty",
        "give every prompt an identifier (any string unique within its dataset)",
    )
    empty = np.array([not (t and t.strip()) for t in texts], dtype=bool)
    found.flag(
        empty,
        "prompt",
        "empty_prompt",
        lambda i: "prompt text is empty",
        "put the text sent to the model in 'prompt', or drop the row",
    )
    # The same (dataset, prompt_id) must not carry two different texts.
    datasets = prompts.column("dataset").to_pylist()
    first_text: dict[tuple[str, str], str] = {}
    first_row: dict[tuple[str, str], int] = {}
    conflict = np.zeros(prompts.num_rows, dtype=bool)
    for i, key in enumerate(zip(datasets, ids, strict=True)):
        if missing_id[i] or empty[i]:
            continue
        if key not in first_text:
            first_text[key], first_row[key] = texts[i], i
        elif first_text[key] != texts[i]:
            conflict[i] = conflict[first_row[key]] = True
    found.flag(
        conflict,
        "prompt",
        "conflicting_prompt_text",
        lambda i: f"prompt_id {ids[i]!r} appears with different prompt texts",
        "give each distinct prompt its own prompt_id",
    )
    return found


def check_outcomes(
    outcomes: pa.Table,
    labels: dict[str, FieldLabel],
    *,
    known_prompts: set[tuple[str, str]],
    prompt_files: dict[str, str],
    model_known: Callable[[str], bool] | None = None,
) -> _Collector:
    """Row-level checks of outcomes, then prompt linkage and unknown models."""
    found = _Collector(outcomes, labels)
    n = outcomes.num_rows
    models = found.models or [None] * n
    no_model = np.array([not (m and str(m).strip()) for m in models], dtype=bool)
    found.flag(
        no_model,
        "model",
        "missing_model",
        lambda i: "model is empty",
        "name the model that answered (as in the catalog)",
    )

    quality, quality_null = _float_values(outcomes.column("quality"))
    missing_q = quality_null | np.isnan(quality)
    found.flag(
        missing_q,
        "quality",
        "quality_missing",
        lambda i: f"quality is missing ({'null' if quality_null[i] else 'NaN'})",
        "fill in a score in [0, 1], or drop the row if the outcome is unknown",
    )
    with np.errstate(invalid="ignore"):
        out_of_range = ~missing_q & ((quality < 0.0) | (quality > 1.0))
    found.flag(
        out_of_range,
        "quality",
        "quality_out_of_range",
        lambda i: f"quality = {quality[i]:g} is outside [0, 1]",
        "rescale the scores to [0, 1] (e.g. (score - min) / (max - min)) and say which "
        "scale they are on in 'quality_scale'",
    )

    for name, unit in (("cost_usd", "USD"), ("latency_ms", "ms")):
        column = _column(outcomes, name)
        if column is None:
            continue
        values, is_null = _float_values(column)
        with np.errstate(invalid="ignore"):
            bad = ~is_null & ~(np.isfinite(values) & (values >= 0.0))
        found.flag(
            bad,
            name,
            f"invalid_{name}",
            _describe(name, values, f"must be a finite number of {unit} >= 0"),
            f"correct the value, or leave {name} empty if it is unknown",
        )
    for name in ("input_tokens", "output_tokens", "output_chars"):
        column = _column(outcomes, name)
        if column is None:
            continue
        values, is_null = _float_values(column)
        bad = ~is_null & (values < 0)
        found.flag(
            bad,
            name,
            f"invalid_{name}",
            _describe(name, values, "is negative"),
            f"correct the count, or leave {name} empty if it is unknown",
        )

    datasets = outcomes.column("dataset").to_pylist()
    ids = outcomes.column("prompt_id").to_pylist()
    unlinked = np.array(
        [(d, p) not in known_prompts for d, p in zip(datasets, ids, strict=True)], dtype=bool
    )
    found.flag(
        unlinked,
        "prompt_id",
        "unknown_prompt_id",
        lambda i: (
            f"no prompt text for prompt_id {ids[i]!r}"
            + (f" in {prompt_files[found.files[i]]}" if found.files[i] in prompt_files else "")
        ),
        "add the prompt to the prompts file, or fix the prompt_id",
    )

    if model_known is not None:
        verdict: dict[str, bool] = {}
        unknown = np.array(
            [bool(m) and not verdict.setdefault(m, model_known(m)) for m in models],
            dtype=bool,
        )
        found.flag(
            unknown,
            "model",
            "unknown_model",
            lambda i: f"model {models[i]!r} is not in the catalog",
            "add the model (or an alias for it) to the catalog, or fix the name",
        )
    return found


def check_duplicates(
    outcomes: pa.Table, bad: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], int]:
    """Finds repeated (dataset, prompt_id, model) rows among the good rows.

    Returns (conflicting rows, rows to keep, number of exact duplicates merged).
    Repeats with the same quality are merged into the first; repeats with
    different qualities are all flagged, since we cannot know which is right.
    """
    n = outcomes.num_rows
    keep = ~bad
    conflict = np.zeros(n, dtype=bool)
    if n == 0:
        return conflict, keep, 0
    keys = pa.table(
        {
            "d": outcomes.column("dataset"),
            "p": outcomes.column("prompt_id"),
            "m": outcomes.column("model"),
        }
    )
    codes = np.zeros(n, dtype=np.int64)
    for name in ("d", "p", "m"):
        encoded = pc.dictionary_encode(keys.column(name)).combine_chunks()
        index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        codes = codes * (len(encoded.dictionary) + 1) + index
    good = np.flatnonzero(~bad)
    if good.size == 0:
        return conflict, keep, 0
    _, inverse, counts = np.unique(codes[good], return_inverse=True, return_counts=True)
    repeated = counts[inverse] > 1
    if not repeated.any():
        return conflict, keep, 0
    quality = np.asarray(outcomes.column("quality").to_numpy(), dtype=np.float64)
    merged = 0
    groups: dict[int, list[int]] = {}
    for position in np.flatnonzero(repeated):
        groups.setdefault(int(inverse[position]), []).append(int(good[position]))
    for rows in groups.values():
        if len({float(quality[r]) for r in rows}) > 1:
            conflict[rows] = True
            keep[rows] = False
        else:
            keep[rows[1:]] = False
            merged += len(rows) - 1
    return conflict, keep, merged


def validate(
    prompts: pa.Table,
    outcomes: pa.Table,
    labels: dict[str, FieldLabel],
    *,
    prompt_files: dict[str, str],
    model_known: Callable[[str], bool] | None = None,
) -> Findings:
    """Runs every check; returns the problems and the rows they rule out."""
    prompt_check = check_prompts(prompts, labels)
    good_prompts = {
        (d, p)
        for d, p, bad in zip(
            prompts.column("dataset").to_pylist(),
            prompts.column("prompt_id").to_pylist(),
            prompt_check.bad,
            strict=True,
        )
        if not bad
    }
    all_prompts = {
        (d, p)
        for d, p in zip(
            prompts.column("dataset").to_pylist(),
            prompts.column("prompt_id").to_pylist(),
            strict=True,
        )
    }
    outcome_check = check_outcomes(
        outcomes,
        labels,
        known_prompts=all_prompts,
        prompt_files=prompt_files,
        model_known=model_known,
    )
    # Outcomes of a rejected prompt cannot be used either; they are not
    # separate problems (the prompt's problem says why), but they go with it.
    datasets = outcomes.column("dataset").to_pylist()
    ids = outcomes.column("prompt_id").to_pylist()
    orphaned = np.array(
        [
            (d, p) in all_prompts and (d, p) not in good_prompts
            for d, p in zip(datasets, ids, strict=True)
        ],
        dtype=bool,
    )
    conflict, keep, merged = check_duplicates(outcomes, outcome_check.bad | orphaned)
    quality = outcomes.column("quality").to_pylist()
    outcome_check.flag(
        conflict,
        "quality",
        "conflicting_duplicate",
        lambda i: (
            f"prompt {ids[i]!r} x model {outcome_check.models[i]!r} appears more than once "  # type: ignore[index]
            f"with different quality (this row: {quality[i]})"
        ),
        "keep one row per (prompt_id, model), or give repeated runs distinct prompt_ids",
    )
    return Findings(
        problems=prompt_check.problems + outcome_check.problems,
        bad_prompts=prompt_check.bad,
        bad_outcomes=outcome_check.bad | orphaned,
        merged_duplicates=merged,
        keep_outcomes=keep & ~outcome_check.bad,
    )
