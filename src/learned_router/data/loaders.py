"""Reading outcome logs in the formats users bring, into one canonical form.

Formats (``format=`` or detected from the columns):

``canonical``
    One row per (prompt, model) with the canonical columns
    (:mod:`learned_router.data.schema`), in Parquet, JSONL or CSV.
``split``
    Long format in two files: outcomes (``prompt_id, model, quality, ...``)
    and prompts (``prompt_id, prompt, task``), found as ``../prompts/<name>``
    beside ``outcomes/<name>`` or as ``<name>.prompts.<ext>`` beside ``<name>.<ext>``.
    This is the layout of the development data.
``routerbench``
    RouterBench's wide format: one row per prompt, a column per model holding
    its score, plus ``<model>|total_cost`` and ``<model>|model_response``.
``pairwise``
    Chatbot-Arena-style battles (``model_a, model_b, winner``), turned into
    per-model outcomes: see :func:`pairwise_to_outcomes`.
``store``
    The router's own outcome store (:mod:`learned_router.outcomes`), a sqlite
    file named ``*.sqlite``, ``*.sqlite3`` or ``*.db``; read as canonical rows,
    with each record's id as its row number.

Column aliases accepted everywhere: ``quality_kind``/``judge`` for
``quality_scale``, ``out_chars`` for ``output_chars``, ``category`` for ``task``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learned_router.data.log import LoadReport, OutcomeLog
from learned_router.data.schema import (
    DEFAULT_QUALITY_SCALE,
    FIELD_BY_NAME,
    OUTCOMES_SCHEMA,
    PROMPTS_SCHEMA,
    REQUIRED,
)
from learned_router.data.validation import (
    FieldLabel,
    Problem,
    canonical_label,
    raise_if_problems,
    validate,
)
from learned_router.errors import DataValidationError, InvalidInputError

Format = Literal["canonical", "split", "routerbench", "pairwise", "store"]
FORMATS: tuple[Format, ...] = ("canonical", "split", "routerbench", "pairwise", "store")
#: File suffixes of the outcome store (sqlite), defined with the schema.
from learned_router.outcome_schema import STORE_SUFFIXES  # noqa: E402  (one definition)

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}
ALIASES = {
    "quality_kind": "quality_scale",
    "judge": "quality_scale",
    "out_chars": "output_chars",
    "category": "task",
}
# Columns read as text from CSV, so ids like "007" keep their zeros.
_TEXT_COLUMNS = (
    "prompt_id",
    "prompt",
    "model",
    "task",
    "category",
    "tenant",
    "dataset",
    "quality_scale",
    "quality_kind",
    "judge",
    "response",
    "sample_id",
    "eval_name",
    "question_id",
    "model_a",
    "model_b",
    "winner",
)

#: Pairwise outcomes: the score each side gets for each ``winner`` value.
PAIRWISE_SCORES = {
    "model_a": (1.0, 0.0),
    "model_b": (0.0, 1.0),
    "tie": (0.5, 0.5),
    "tie (bothbad)": (0.0, 0.0),
}
PAIRWISE_SCALE = "pairwise win rate (win 1, tie 0.5, loss or both bad 0)"


class _Raw:
    """A file read into the two normalised tables, before validation."""

    def __init__(
        self,
        prompts: pa.Table,
        outcomes: pa.Table,
        *,
        file: str,
        format: Format,
        label: FieldLabel = canonical_label,
        prompt_file: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        self.prompts, self.outcomes = prompts, outcomes
        self.file, self.format, self.label = file, format, label
        self.prompt_file = prompt_file
        self.problems = list(problems)


# --- reading files -----------------------------------------------------------------------------


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """Reads a Parquet, JSONL or CSV file into a pyarrow table."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InvalidInputError(
            f"{path}: unsupported file type {path.suffix!r}; use " + ", ".join(sorted(SUFFIXES))
        )
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if kind == "jsonl":
            return _read_jsonl(path)
        import pyarrow.csv as pcsv

        # utf-8-sig: a byte-order mark must not hide the first column's name
        # (it would lose its text type: prompt id "007" read as 7).
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = handle.readline()
        names = [name.strip().strip('"') for name in header.rstrip("\r\n").split(",")]
        text = {name: pa.string() for name in names if name in _TEXT_COLUMNS}
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=text))
    except DataValidationError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as error:
        raise DataValidationError(
            f"{path}: cannot be read as {kind}: {error}. Fix: check the file is valid {kind} "
            "(one JSON object per line for JSONL, a header row for CSV)",
            [
                Problem(
                    str(path),
                    None,
                    None,
                    f"unreadable {kind}: {error}",
                    "fix the file",
                    "unreadable",
                )
            ],
        ) from error


def _read_jsonl(path: Path) -> pa.Table:
    """One JSON object per line, any line length. Ids and other text columns
    stay text (a 20-digit id is not turned into a float); a column whose
    values have mixed types is kept as text so that each bad value becomes a
    problem located by row (see :func:`_coerce`), not an unreadable file."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise _unreadable(path, "jsonl", f"line {number}: {error}") from error
            if not isinstance(row, dict):
                raise _unreadable(
                    path, "jsonl", f"line {number}: a JSON {type(row).__name__}, not an object"
                )
            rows.append(row)
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in _TEXT_COLUMNS:
            values = [_text(value) for value in values]
            columns[name] = pa.array(values, pa.string())
            continue
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            columns[name] = pa.array([_text(value) for value in values], pa.string())
    return pa.table(columns) if columns else pa.table({})


def _text(value: Any) -> str | None:
    """A JSON value as text: strings as they are, numbers exactly (Python ints
    are exact), booleans as JSON; a list or object becomes null, so that the
    validator reports the row (a missing value) instead of storing its repr."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return None  # a list or object is no text: the row gets a located problem


def _unreadable(path: Path, kind: str, detail: str) -> DataValidationError:
    return DataValidationError(
        f"{path}: cannot be read as {kind}: {detail}. Fix: one JSON object per line",
        [
            Problem(
                str(path), None, None, f"unreadable {kind}: {detail}", "fix the file", "unreadable"
            )
        ],
    )


def _renamed(table: pa.Table) -> pa.Table:
    names = [
        ALIASES.get(name, name) if ALIASES.get(name) not in table.column_names else name
        for name in table.column_names
    ]
    return table.rename_columns(names)


def _coerce(table: pa.Table, file: str) -> tuple[pa.Table, list[Problem]]:
    """Casts canonical columns to their types; values that cannot be read become
    problems (and nulls), located by row."""
    problems: list[Problem] = []
    for name in table.column_names:
        spec = FIELD_BY_NAME.get(name)
        if spec is None or table.schema.field(name).type == spec.type:
            continue
        column = table.column(name)
        try:
            cast = column.cast(spec.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = column.to_pylist()
            parsed: list[Any] = []
            for row, value in enumerate(values, start=1):
                try:
                    parsed.append(_parse(value, spec.type))
                except (TypeError, ValueError):
                    parsed.append(None)
                    problems.append(
                        Problem(
                            file,
                            row,
                            name,
                            f"{value!r} cannot be read as {spec.type}",
                            f"write a valid {spec.type} value, or leave it empty",
                            "unreadable_value",
                        )
                    )
            cast = pa.chunked_array([pa.array(parsed, type=spec.type)])
        table = table.set_column(table.column_names.index(name), name, cast)
    return table, problems


def _parse(value: Any, type_: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_floating(type_):
        return float(value)
    if pa.types.is_integer(type_):
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if pa.types.is_string(type_):
        return str(value)
    return pa.scalar(value).cast(type_).as_py()


def _missing_columns(table: pa.Table, required: Iterable[str], file: str, fmt: str) -> None:
    missing = [name for name in required if name not in table.column_names]
    if missing:
        problem = Problem(
            file,
            None,
            ", ".join(missing),
            f"missing required column(s) {missing} for the {fmt} format "
            f"(found: {table.column_names})",
            "add the columns, rename them (aliases: "
            + ", ".join(f"{a}->{b}" for a, b in ALIASES.items())
            + "), or pass the right format=",
            "missing_column",
        )
        raise_if_problems([problem])


def _with_bookkeeping(table: pa.Table, file: str, rows: Any = None) -> pa.Table:
    n = table.num_rows
    row = np.arange(1, n + 1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    table = table.append_column("_file", pa.array([file] * n, type=pa.string()))
    return table.append_column("_row", pa.array(row, type=pa.int64()))


def _fill(table: pa.Table, name: str, value: str) -> pa.Table:
    if name in table.column_names:
        column = pc.fill_null(table.column(name).cast(pa.string()), value)
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, pa.array([value] * table.num_rows, type=pa.string()))


def _as_string(table: pa.Table, name: str) -> pa.Table:
    if name in table.column_names and table.schema.field(name).type != pa.string():
        column = table.column(name).cast(pa.string())
        table = table.set_column(table.column_names.index(name), name, column)
    return table


def _project(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The schema's columns (nulls where absent) plus ``_file``/``_row``."""
    columns, fields = [], []
    for spec in schema:
        if spec.name in table.column_names:
            columns.append(table.column(spec.name).cast(spec.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=spec.type))
        fields.append(pa.field(spec.name, spec.type))
    columns += [table.column("_file"), table.column("_row")]
    fields += [pa.field("_file", pa.string()), pa.field("_row", pa.int64())]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _split_flat(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    return _project(table, PROMPTS_SCHEMA), _project(table, OUTCOMES_SCHEMA)


# --- the formats -------------------------------------------------------------------------------


def _read_canonical(path: Path, dataset: str | None) -> _Raw:
    return _canonical(_renamed(read_table(path)), path, dataset, "canonical")


def _canonical(
    table: pa.Table, path: Path, dataset: str | None, format: Format, rows: Any = None
) -> _Raw:
    file = str(path)
    _missing_columns(table, REQUIRED, file, format)
    table, problems = _coerce(table, file)
    table = _fill(table, "dataset", dataset or path.stem)
    table = _fill(table, "quality_scale", DEFAULT_QUALITY_SCALE)
    table = _as_string(table, "prompt_id")
    table = _with_bookkeeping(table, file, rows)
    prompts, outcomes = _split_flat(table)
    return _Raw(prompts, outcomes, file=file, format=format, problems=problems)


def _read_store(path: Path, dataset: str | None) -> _Raw:
    """The router's outcome store; a record's id is its row number in problems."""
    # Imported here, so reading logs does not load the store's sqlite code; the
    # dependency runs one way (outcomes does not import this package at import time).
    from learned_router.outcomes import OutcomeStoreError, read_store

    try:
        table = read_store(path)
    except OutcomeStoreError as error:
        problem = Problem(str(path), None, None, str(error), "fix the path", "unreadable")
        raise DataValidationError(str(error), [problem]) from error
    ids = table.column("id").to_numpy()
    return _canonical(table.drop_columns(["id"]), path, dataset, "store", rows=ids)


def find_prompts_file(path: Path) -> Path | None:
    """The prompts file of a split-format outcomes file, if one exists."""
    candidates = (
        [path.parent.parent / "prompts" / path.name] if path.parent.name == "outcomes" else []
    )
    candidates += [path.with_name(f"{path.stem}.prompts{path.suffix}")]
    return next((c for c in candidates if c.is_file()), None)


def _read_split(path: Path, dataset: str | None, prompts_path: Path | None = None) -> _Raw:
    file = str(path)
    prompts_path = prompts_path or find_prompts_file(path)
    if prompts_path is None:
        raise InvalidInputError(
            f"{path}: no prompts file for this outcomes file; expected "
            f"{path.parent.parent / 'prompts' / path.name} or "
            f"{path.with_name(f'{path.stem}.prompts{path.suffix}')}"
        )
    name = dataset or path.stem
    outcomes = _renamed(read_table(path))
    _missing_columns(outcomes, ("prompt_id", "model", "quality"), file, "split (outcomes)")
    outcomes, problems = _coerce(outcomes, file)
    outcomes = _fill(outcomes, "dataset", name)
    outcomes = _fill(outcomes, "quality_scale", DEFAULT_QUALITY_SCALE)
    outcomes = _as_string(outcomes, "prompt_id")
    outcomes = _with_bookkeeping(outcomes, file)

    prompts_file = str(prompts_path)
    prompts = _renamed(read_table(prompts_path))
    _missing_columns(prompts, ("prompt_id", "prompt"), prompts_file, "split (prompts)")
    prompts, prompt_problems = _coerce(prompts, prompts_file)
    prompts = _fill(prompts, "dataset", name)
    prompts = _as_string(prompts, "prompt_id")
    prompts = _with_bookkeeping(prompts, prompts_file)
    return _Raw(
        _project(prompts, PROMPTS_SCHEMA),
        _project(outcomes, OUTCOMES_SCHEMA),
        file=file,
        format="split",
        prompt_file=prompts_file,
        problems=problems + prompt_problems,
    )


def _routerbench_models(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if f"{c}|total_cost" in columns]


def _read_routerbench(path: Path, dataset: str | None) -> _Raw:
    """RouterBench's wide format: a score column per model, ``model|total_cost``
    and ``model|model_response`` beside it; ``sample_id``, ``prompt``, ``eval_name``."""
    file = str(path)
    table = read_table(path)
    models = _routerbench_models(table.column_names)
    id_column = "sample_id" if "sample_id" in table.column_names else "prompt_id"
    _missing_columns(table, (id_column, "prompt"), file, "routerbench")
    if not models:
        raise_if_problems(
            [
                Problem(
                    file,
                    None,
                    None,
                    "no model columns found (a score column `M` with `M|total_cost` beside it)",
                    "use the routerbench layout, or pass the right format=",
                    "missing_column",
                )
            ]
        )
    n, m = table.num_rows, len(models)
    task = table.column("eval_name") if "eval_name" in table.column_names else None
    prompt_table = pa.table(
        {
            "prompt_id": table.column(id_column).cast(pa.string()),
            "prompt": table.column("prompt").cast(pa.string()),
            "task": task.cast(pa.string()) if task is not None else pa.nulls(n, pa.string()),
        }
    )
    prompt_table = _fill(prompt_table, "dataset", dataset or path.stem)
    prompt_table = _with_bookkeeping(prompt_table, file)

    # Long outcomes: row i of the file becomes rows i*m .. i*m+m-1.
    row_index = np.repeat(np.arange(n), m)
    model_column = pa.array(np.tile(np.array(models, dtype=object), n), type=pa.string())
    long: dict[str, Any] = {
        "prompt_id": pc.take(prompt_table.column("prompt_id"), pa.array(row_index)),
        "model": model_column,
    }
    problems: list[Problem] = []
    for canonical, suffix in (
        ("quality", ""),
        ("cost_usd", "|total_cost"),
        ("response", "|model_response"),
    ):
        columns = [f"{model}{suffix}" for model in models]
        if not all(c in table.column_names for c in columns):
            continue
        wide = pa.table({c: table.column(c) for c in columns})
        if canonical == "response":
            values = [wide.column(c).cast(pa.string()).to_pylist() for c in columns]
            long[canonical] = pa.array(
                [values[j][i] for i in range(n) for j in range(m)], pa.string()
            )
            continue
        matrix = np.empty((n, m), dtype=np.float64)
        for j, column in enumerate(columns):
            try:
                matrix[:, j] = pc.fill_null(
                    wide.column(column).cast(pa.float64()), np.nan
                ).to_numpy()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                for i, value in enumerate(wide.column(column).to_pylist()):
                    try:
                        matrix[i, j] = math.nan if value is None else float(value)
                    except (TypeError, ValueError):
                        matrix[i, j] = math.nan
                        problems.append(
                            Problem(
                                file,
                                i + 1,
                                column,
                                f"{value!r} is not a number",
                                "write a number, or leave it empty",
                                "unreadable_value",
                            )
                        )
        long[canonical] = pa.array(matrix.reshape(-1), type=pa.float64())
    outcomes = pa.table(long)
    outcomes = _fill(outcomes, "dataset", dataset or path.stem)
    outcomes = _fill(outcomes, "quality_scale", "routerbench score")
    outcomes = _with_bookkeeping(outcomes, file, rows=row_index + 1)

    def label(field_name: str, model: str) -> str:
        return {
            "quality": model,
            "cost_usd": f"{model}|total_cost",
            "response": f"{model}|model_response",
        }.get(field_name, field_name)

    return _Raw(
        _project(prompt_table, PROMPTS_SCHEMA),
        _project(outcomes, OUTCOMES_SCHEMA),
        file=file,
        format="routerbench",
        label=label,
        problems=problems,
    )


def pairwise_to_outcomes(
    battles: Sequence[tuple[str, str, str, str]],
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int], list[int]]:
    """Turns battles ``(prompt_id, model_a, model_b, winner)`` into outcomes.

    Each battle scores each side: a win 1, a loss 0, a tie 0.5 each, and
    "tie (bothbad)" 0 each (neither answered well). A model's quality on a
    prompt is the mean of its scores over that prompt's battles. Returns
    (quality per (prompt_id, model), battles per (prompt_id, model), indices of
    battles with an unknown ``winner``).

    >>> q, n, bad = pairwise_to_outcomes([("p1", "a", "b", "model_a"), ("p1", "a", "c", "tie")])
    >>> q[("p1", "a")], q[("p1", "b")], q[("p1", "c")], n[("p1", "a")]
    (0.75, 0.0, 0.5, 2)
    """
    total: dict[tuple[str, str], float] = {}
    count: dict[tuple[str, str], int] = {}
    unknown: list[int] = []
    for index, (prompt_id, model_a, model_b, winner) in enumerate(battles):
        scores = PAIRWISE_SCORES.get(str(winner).strip().lower())
        if scores is None:
            unknown.append(index)
            continue
        for model, score in ((model_a, scores[0]), (model_b, scores[1])):
            key = (prompt_id, model)
            total[key] = total.get(key, 0.0) + score
            count[key] = count.get(key, 0) + 1
    return {key: total[key] / count[key] for key in total}, count, unknown


def _first_user_turn(conversation: Any) -> str | None:
    if isinstance(conversation, str):
        text = conversation
        try:
            conversation = json.loads(text)
        except json.JSONDecodeError:
            return text
    for turn in conversation or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return str(turn.get("content", ""))
    return None


def _read_pairwise(path: Path, dataset: str | None) -> _Raw:
    file = str(path)
    table = read_table(path)
    id_column = "question_id" if "question_id" in table.column_names else "prompt_id"
    _missing_columns(table, (id_column, "model_a", "model_b", "winner"), file, "pairwise")
    if "prompt" in table.column_names:
        texts = table.column("prompt").cast(pa.string()).to_pylist()
    elif "conversation_a" in table.column_names:
        texts = [_first_user_turn(c) for c in table.column("conversation_a").to_pylist()]
    else:
        _missing_columns(table, ("prompt",), file, "pairwise (or conversation_a)")
        texts = []
    ids = [str(v) for v in table.column(id_column).to_pylist()]
    model_a = table.column("model_a").cast(pa.string()).to_pylist()
    model_b = table.column("model_b").cast(pa.string()).to_pylist()
    winner = table.column("winner").cast(pa.string()).to_pylist()
    quality, _count, unknown = pairwise_to_outcomes(
        list(zip(ids, model_a, model_b, winner, strict=True))
    )
    problems = [
        Problem(
            file,
            i + 1,
            "winner",
            f"winner {winner[i]!r} is not one of {list(PAIRWISE_SCORES)}",
            "use model_a, model_b, tie or tie (bothbad)",
            "unknown_winner",
        )
        for i in unknown
    ]
    first_row: dict[tuple[str, str], int] = {}
    for i, (p, a, b) in enumerate(zip(ids, model_a, model_b, strict=True)):
        first_row.setdefault((p, a), i + 1)
        first_row.setdefault((p, b), i + 1)
    keys = list(quality)
    name = dataset or path.stem
    outcomes = pa.table(
        {
            "prompt_id": pa.array([k[0] for k in keys], pa.string()),
            "model": pa.array([k[1] for k in keys], pa.string()),
            "quality": pa.array([quality[k] for k in keys], pa.float64()),
        }
    )
    outcomes = _fill(outcomes, "dataset", name)
    outcomes = _fill(outcomes, "quality_scale", PAIRWISE_SCALE)
    outcomes = _with_bookkeeping(outcomes, file, rows=[first_row[k] for k in keys])
    prompts = pa.table(
        {"prompt_id": pa.array(ids, pa.string()), "prompt": pa.array(texts, pa.string())}
    )
    prompts = _fill(prompts, "dataset", name)
    prompts = _with_bookkeeping(prompts, file)
    # A battle's prompt repeats across battles; keep each prompt's first row.
    seen: set[str] = set()
    first = [i for i, p in enumerate(ids) if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
    prompts = prompts.take(pa.array(first, type=pa.int64()))
    return _Raw(
        _project(prompts, PROMPTS_SCHEMA),
        _project(outcomes, OUTCOMES_SCHEMA),
        file=file,
        format="pairwise",
        problems=problems,
    )


_READERS: dict[Format, Callable[[Path, str | None], _Raw]] = {
    "canonical": _read_canonical,
    "split": _read_split,
    "routerbench": _read_routerbench,
    "pairwise": _read_pairwise,
    "store": _read_store,
}


def detect_format(path: str | os.PathLike[str]) -> Format:
    """Guesses a file's format from its columns (and, for ``split``, its prompts file)."""
    path = Path(path)
    if path.suffix.lower() in STORE_SUFFIXES:
        return "store"
    kind = SUFFIXES.get(path.suffix.lower())
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            columns = list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as error:
            raise DataValidationError(
                f"{path}: cannot be read as parquet: {error}. Fix: check the file is a "
                "complete Parquet file (re-export it)",
                [
                    Problem(
                        str(path),
                        None,
                        None,
                        f"unreadable parquet: {error}",
                        "fix the file",
                        "unreadable",
                    )
                ],
            ) from error
    else:
        columns = read_table(path).column_names
    columns = [ALIASES.get(c, c) for c in columns]
    if {"model_a", "model_b", "winner"} <= set(columns):
        return "pairwise"
    if _routerbench_models(columns):
        return "routerbench"
    long_outcomes = "prompt" not in columns and {"prompt_id", "model", "quality"} <= set(columns)
    if long_outcomes and find_prompts_file(path) is not None:
        return "split"
    return "canonical"


def _expand(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise InvalidInputError("no paths given; pass a file or a folder of outcome logs")
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            folder = path / "outcomes" if (path / "outcomes").is_dir() else path
            found = sorted(
                p
                for p in folder.iterdir()
                if (p.suffix.lower() in SUFFIXES and not p.stem.endswith(".prompts"))
                or p.suffix.lower() in STORE_SUFFIXES
            )
            if not found:
                kinds = ", ".join((*SUFFIXES, *STORE_SUFFIXES))
                raise InvalidInputError(f"{path}: no outcome logs ({kinds}) inside")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise InvalidInputError(f"{path}: no such file or folder")
    return files


def load(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    format: Format | None = None,
    dataset: str | None = None,
    catalog: Any = None,
    rejects: str | os.PathLike[str] | None = None,
) -> OutcomeLog:
    """Loads outcome logs into one validated :class:`OutcomeLog`.

    ``paths`` is a file, a folder (every log in it; a folder with ``outcomes/``
    and ``prompts/`` is read as split-format pairs), or a list of them. The
    format is detected per file unless ``format`` is given. ``dataset`` names
    the source (default: the file name); prompt ids are unique per dataset.

    If ``catalog`` (a :class:`~learned_router.catalog.Catalog`) is given,
    models it does not know are problems. If anything is wrong, the load fails
    with :class:`~learned_router.errors.DataValidationError` listing every
    problem, unless ``rejects`` names a JSONL file: then bad rows are written
    there with their problems, the rest loads, and ``log.report`` counts both.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "log.jsonl").write_text(
    ...     '{"prompt_id": "1", "prompt": "2+2?", "model": "m", "quality": 1}\\n')
    >>> log = load(folder / "log.jsonl")
    >>> log.num_prompts, log.models
    (1, ('m',))
    """
    if format is not None and format not in FORMATS:
        raise InvalidInputError(f"unknown format {format!r}; use one of {list(FORMATS)}")
    raws: list[_Raw] = []
    for path in _expand(paths):
        fmt = format or detect_format(path)
        raws.append(_READERS[fmt](path, dataset))
    return _assemble(raws, catalog=catalog, rejects=rejects)


def _assemble(
    raws: list[_Raw], *, catalog: Any, rejects: str | os.PathLike[str] | None
) -> OutcomeLog:
    prompts = pa.concat_tables([raw.prompts for raw in raws])
    outcomes = pa.concat_tables([raw.outcomes for raw in raws])
    labels = {raw.file: raw.label for raw in raws}
    prompt_files = {raw.file: raw.prompt_file for raw in raws if raw.prompt_file}
    read_problems = [problem for raw in raws for problem in raw.problems]
    model_known = None
    if catalog is not None:
        model_known = catalog.knows
    findings = validate(
        prompts, outcomes, labels, prompt_files=prompt_files, model_known=model_known
    )
    # Values that could not be parsed became nulls; their rows are bad too.
    unreadable = {(p.file, p.row) for p in read_problems if p.row is not None}
    if unreadable:
        for table, bad in ((prompts, findings.bad_prompts), (outcomes, findings.bad_outcomes)):
            keys = zip(
                table.column("_file").to_pylist(), table.column("_row").to_pylist(), strict=True
            )
            bad |= np.array([key in unreadable for key in keys], dtype=bool)
        findings.keep_outcomes &= ~findings.bad_outcomes
    # A value that could not be read was replaced by null; do not report it
    # twice (e.g. "unreadable" and then "missing").
    located = {(p.file, p.row, p.field) for p in read_problems}
    problems = read_problems + [
        p for p in findings.problems if (p.file, p.row, p.field) not in located
    ]
    if problems and rejects is None:
        raise_if_problems(problems)
    rejects_path = None
    if problems and rejects is not None:
        rejects_path = _write_rejects(Path(rejects), prompts, outcomes, findings, problems)

    keep_prompts = ~findings.bad_prompts
    clean_prompts = prompts.filter(pa.array(keep_prompts))
    clean_prompts = _first_per_key(clean_prompts)
    clean_outcomes = outcomes.filter(pa.array(findings.keep_outcomes))
    report = LoadReport(
        files=tuple(raw.file for raw in raws),
        formats={raw.file: raw.format for raw in raws},
        outcome_rows_read=outcomes.num_rows,
        outcome_rows_loaded=clean_outcomes.num_rows,
        outcome_rows_rejected=int(findings.bad_outcomes.sum()),
        prompt_rows_rejected=int(findings.bad_prompts.sum()),
        merged_duplicates=findings.merged_duplicates,
        problems_by_kind=_count_kinds(problems),
        rejects_path=str(rejects_path) if rejects_path else None,
    )
    return OutcomeLog(
        clean_prompts.drop_columns(["_file", "_row"]),
        clean_outcomes.drop_columns(["_file", "_row"]),
        report=report,
    )


def _first_per_key(prompts: pa.Table) -> pa.Table:
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, key in enumerate(
        zip(
            prompts.column("dataset").to_pylist(),
            prompts.column("prompt_id").to_pylist(),
            strict=True,
        )
    ):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    if len(keep) == prompts.num_rows:
        return prompts
    return prompts.take(pa.array(keep, type=pa.int64()))


def _count_kinds(problems: Sequence[Problem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.kind] = counts.get(problem.kind, 0) + 1
    return counts


def _write_rejects(
    path: Path,
    prompts: pa.Table,
    outcomes: pa.Table,
    findings: Any,
    problems: Sequence[Problem],
) -> Path:
    """Writes every rejected row with its problems as JSONL (atomically)."""
    by_row: dict[tuple[str, int], list[str]] = {}
    for problem in problems:
        if problem.row is not None:
            by_row.setdefault((problem.file, problem.row), []).append(str(problem))
    file_level = [str(p) for p in problems if p.row is None]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        for message in file_level:
            handle.write(json.dumps({"_table": None, "_problems": [message]}) + "\n")
        # In flat formats a prompt row and its outcome row are the same line of
        # the file: write such a line once, as an outcome.
        rejected_outcomes = {
            (outcomes.column("_file")[int(i)].as_py(), outcomes.column("_row")[int(i)].as_py())
            for i in np.flatnonzero(findings.bad_outcomes)
        }
        for table_name, table, bad in (
            ("prompts", prompts, findings.bad_prompts),
            ("outcomes", outcomes, findings.bad_outcomes),
        ):
            for i in np.flatnonzero(bad):
                row = {
                    k: v for k, v in table.slice(int(i), 1).to_pylist()[0].items() if v is not None
                }
                key = (row["_file"], row["_row"])
                if table_name == "prompts" and key in rejected_outcomes:
                    continue
                row["_table"] = table_name
                row["_problems"] = by_row.get(key, ["its prompt was rejected"])
                handle.write(json.dumps(row, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path
