"""The in-memory outcome log: prompts and outcomes in the canonical schema."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from learned_router.data.schema import OUTCOME_LOG_SCHEMA, OUTCOMES_SCHEMA, PROMPTS_SCHEMA
from learned_router.errors import InvalidInputError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from learned_router.catalog import Catalog

PromptKey = tuple[str, str]
"""(dataset, prompt_id): prompt ids are unique within a dataset."""


@dataclass(frozen=True)
class LoadReport:
    """What a load read, kept and set aside."""

    files: tuple[str, ...]
    formats: dict[str, str]
    outcome_rows_read: int
    outcome_rows_loaded: int
    outcome_rows_rejected: int
    prompt_rows_rejected: int
    merged_duplicates: int
    """Exact repeats of a (prompt, model) row with the same quality, merged into one."""
    problems_by_kind: dict[str, int] = field(default_factory=dict)
    rejects_path: str | None = None


@dataclass(frozen=True)
class OutcomeMatrix:
    """A log as dense ``[n_prompts, n_models]`` arrays (NaN where there is no outcome)."""

    datasets: tuple[str, ...]
    prompt_ids: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str | None, ...]
    quality_scales: tuple[str, ...]
    """Per prompt: the scale of its outcomes' quality (the most common one)."""
    models: tuple[str, ...]
    quality: npt.NDArray[np.float64]
    cost_usd: npt.NDArray[np.float64]
    input_tokens: npt.NDArray[np.float64]
    output_tokens: npt.NDArray[np.float64]
    output_chars: npt.NDArray[np.float64]

    @property
    def keys(self) -> list[PromptKey]:
        """(dataset, prompt_id) per row."""
        return list(zip(self.datasets, self.prompt_ids, strict=True))


@dataclass(frozen=True)
class ModelSummary:
    """Per-model statistics of a log."""

    model: str
    outcomes: int
    prompts: int
    mean_quality: float
    share_good: float
    """Share of outcomes with quality >= 0.5 (the label balance for 0/1 labels)."""
    cost_coverage: float
    """Share of outcomes with a real ``cost_usd``."""


class OutcomeLog:
    """Validated outcome logs, normalised into two pyarrow tables.

    ``prompts`` has one row per (dataset, prompt_id); ``outcomes`` one row per
    (dataset, prompt_id, model). Create one with :func:`learned_router.data.load`.
    """

    def __init__(
        self, prompts: pa.Table, outcomes: pa.Table, *, report: LoadReport | None = None
    ) -> None:
        self.prompts = _conform(prompts, PROMPTS_SCHEMA)
        self.outcomes = _conform(outcomes, OUTCOMES_SCHEMA)
        self.report = report

    def __repr__(self) -> str:
        return (
            f"OutcomeLog({self.num_prompts} prompts, {len(self.models)} models, "
            f"{self.num_outcomes} outcomes, datasets={list(self.datasets)})"
        )

    @property
    def num_prompts(self) -> int:
        return int(self.prompts.num_rows)

    @property
    def num_outcomes(self) -> int:
        return int(self.outcomes.num_rows)

    @property
    def models(self) -> tuple[str, ...]:
        """Every model with at least one outcome, sorted."""
        return tuple(sorted(pc.unique(self.outcomes.column("model")).to_pylist()))

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted(pc.unique(self.prompts.column("dataset")).to_pylist()))

    def prompt_keys(self) -> list[PromptKey]:
        return list(
            zip(
                self.prompts.column("dataset").to_pylist(),
                self.prompts.column("prompt_id").to_pylist(),
                strict=True,
            )
        )

    # --- subsets ---------------------------------------------------------------------------

    def subset(self, keys: Iterable[PromptKey]) -> OutcomeLog:
        """The log restricted to the given prompts (and their outcomes)."""
        wanted = set(keys)
        return OutcomeLog(
            self.prompts.filter(pa.array(_in(self.prompts, wanted))),
            self.outcomes.filter(pa.array(_in(self.outcomes, wanted))),
        )

    def select(
        self, *, datasets: Sequence[str] | None = None, models: Sequence[str] | None = None
    ) -> OutcomeLog:
        """The log restricted to some datasets and/or models."""
        prompts, outcomes = self.prompts, self.outcomes
        if datasets is not None:
            unknown = set(datasets) - set(self.datasets)
            if unknown:
                raise InvalidInputError(
                    f"unknown dataset(s) {sorted(unknown)}; the log has {list(self.datasets)}"
                )
            values = pa.array(list(datasets), pa.string())
            prompts = prompts.filter(pc.is_in(prompts.column("dataset"), value_set=values))
            outcomes = outcomes.filter(pc.is_in(outcomes.column("dataset"), value_set=values))
        if models is not None:
            values = pa.array(list(models), pa.string())
            outcomes = outcomes.filter(pc.is_in(outcomes.column("model"), value_set=values))
        return OutcomeLog(prompts, outcomes)

    def with_catalog_names(self, catalog: Catalog) -> OutcomeLog:
        """The log with model names replaced by catalog ids.

        Every spelling of a model ("Meta-Llama-3.1-8B-Instruct",
        "meta/llama-3.1-8b-instruct") becomes its catalog id, so they train and
        are served as one model. Two spellings graded on the same prompt are
        the same model graded twice: their qualities and costs are averaged.
        Unknown names raise :class:`~learned_router.errors.CatalogError`.
        """
        names = self.outcomes.column("model")
        mapping = {name: catalog.resolve(name) for name in pc.unique(names).to_pylist()}
        _warn_merged_spellings(self.outcomes, mapping)
        resolved = pa.array([mapping[n] for n in names.to_pylist()], type=pa.string())
        outcomes = self.outcomes.set_column(
            self.outcomes.column_names.index("model"), "model", resolved
        )
        keys = ["dataset", "prompt_id", "model"]
        grouped = outcomes.group_by(keys).aggregate([("quality", "mean"), ("cost_usd", "mean")])
        if grouped.num_rows < outcomes.num_rows:
            seen: set[tuple[str, ...]] = set()
            first = []
            columns = [outcomes.column(k).to_pylist() for k in keys]
            for i, key in enumerate(zip(*columns, strict=True)):
                if key not in seen:
                    seen.add(key)
                    first.append(i)
            rest = outcomes.drop_columns(["quality", "cost_usd"]).take(pa.array(first, pa.int64()))
            outcomes = rest.join(grouped, keys=keys).rename_columns(
                {"quality_mean": "quality", "cost_usd_mean": "cost_usd"}
            )
        return OutcomeLog(self.prompts, outcomes, report=self.report)

    def without_self_comparisons(
        self, *, min_prompts: int = 20
    ) -> tuple[OutcomeLog, list[tuple[str, str]]]:
        """The log without (dataset, model) columns that are a judge's reference
        compared with itself, and the (dataset, model) pairs it dropped.

        A pairwise judge (AlpacaEval 2: P(win) against GPT-4-1106) grades its
        reference model against itself as exactly 0.5 on every prompt: a tie by
        construction, not an outcome. Trained on, it says the reference model
        wins half the time; evaluated on, it gives the reference model a
        quality it never earned. A column is dropped when every one of its at
        least ``min_prompts`` qualities is exactly 0.5.

        >>> import json, pathlib, tempfile
        >>> from learned_router.data import load
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "judged.jsonl"
        >>> rows = [{"prompt_id": str(i), "prompt": f"q{i}", "model": m, "quality": q}
        ...         for i in range(20) for m, q in (("ref", 0.5), ("x", 0.2))]
        >>> _ = path.write_text("\\n".join(json.dumps(r) for r in rows))
        >>> kept, dropped = load(path).without_self_comparisons()
        >>> kept.models, dropped
        (('x',), [('judged', 'ref')])
        """
        table = self.outcomes.group_by(["dataset", "model"]).aggregate(
            [("quality", "min"), ("quality", "max"), ("quality", "count")]
        )
        dropped = sorted(
            (d, m)
            for d, m, low, high, n in zip(
                table.column("dataset").to_pylist(),
                table.column("model").to_pylist(),
                table.column("quality_min").to_pylist(),
                table.column("quality_max").to_pylist(),
                table.column("quality_count").to_pylist(),
                strict=True,
            )
            if n >= min_prompts and low == 0.5 and high == 0.5
        )
        if not dropped:
            return self, []
        pairs = set(dropped)
        keep = [
            (d, m) not in pairs
            for d, m in zip(
                self.outcomes.column("dataset").to_pylist(),
                self.outcomes.column("model").to_pylist(),
                strict=True,
            )
        ]
        kept = OutcomeLog(self.prompts, self.outcomes.filter(pa.array(keep)), report=self.report)
        return kept, dropped

    @staticmethod
    def concat(logs: Sequence[OutcomeLog]) -> OutcomeLog:
        """Several logs as one (prompt keys must not collide)."""
        return OutcomeLog(
            pa.concat_tables([log.prompts for log in logs]),
            pa.concat_tables([log.outcomes for log in logs]),
        )

    # --- views -----------------------------------------------------------------------------

    def matrix(self, models: Sequence[str] | None = None) -> OutcomeMatrix:
        """Dense ``[n_prompts, n_models]`` arrays, rows in the order of ``prompts``."""
        models = tuple(models) if models is not None else self.models
        column_of = {m: j for j, m in enumerate(models)}
        keys = self.prompt_keys()
        row_of = {key: i for i, key in enumerate(keys)}
        n, m = len(keys), len(models)
        out = self.outcomes
        rows = np.array(
            [
                row_of.get(key, -1)
                for key in zip(
                    out.column("dataset").to_pylist(),
                    out.column("prompt_id").to_pylist(),
                    strict=True,
                )
            ],
            dtype=np.int64,
        )
        cols = np.array(
            [column_of.get(x, -1) for x in out.column("model").to_pylist()], dtype=np.int64
        )
        ok = (rows >= 0) & (cols >= 0)

        def dense(name: str) -> npt.NDArray[np.float64]:
            values = np.asarray(
                pc.fill_null(out.column(name).cast(pa.float64()), np.nan).to_numpy(),
                dtype=np.float64,
            )
            grid = np.full((n, m), np.nan)
            grid[rows[ok], cols[ok]] = values[ok]
            return grid

        scales = out.column("quality_scale").to_pylist()
        scale_votes: list[dict[str, int]] = [{} for _ in range(n)]
        for r, scale in zip(rows, scales, strict=True):
            if r >= 0:
                votes = scale_votes[r]
                votes[scale] = votes.get(scale, 0) + 1
        return OutcomeMatrix(
            datasets=tuple(k[0] for k in keys),
            prompt_ids=tuple(k[1] for k in keys),
            prompts=tuple(self.prompts.column("prompt").to_pylist()),
            tasks=tuple(self.prompts.column("task").to_pylist()),
            quality_scales=tuple(
                max(votes, key=lambda s: votes[s]) if votes else "" for votes in scale_votes
            ),
            models=models,
            quality=dense("quality"),
            cost_usd=dense("cost_usd"),
            input_tokens=dense("input_tokens"),
            output_tokens=dense("output_tokens"),
            output_chars=dense("output_chars"),
        )

    def model_summaries(self) -> list[ModelSummary]:
        """Per-model counts, mean quality, label balance and cost coverage."""
        grouped = self.outcomes.group_by("model").aggregate(
            [
                ("quality", "count"),
                ("quality", "mean"),
                ("prompt_id", "count_distinct"),
                ("cost_usd", "count"),
            ]
        )
        good = (
            self.outcomes.filter(pc.greater_equal(self.outcomes.column("quality"), 0.5))
            .group_by("model")
            .aggregate([("quality", "count")])
        )
        good_of = dict(
            zip(
                good.column("model").to_pylist(),
                good.column("quality_count").to_pylist(),
                strict=True,
            )
        )
        summaries = []
        for row in grouped.to_pylist():
            count = row["quality_count"]
            summaries.append(
                ModelSummary(
                    model=row["model"],
                    outcomes=count,
                    prompts=row["prompt_id_count_distinct"],
                    mean_quality=row["quality_mean"],
                    share_good=good_of.get(row["model"], 0) / count,
                    cost_coverage=row["cost_usd_count"] / count,
                )
            )
        return sorted(summaries, key=lambda s: s.model)

    def to_table(self) -> pa.Table:
        """The flat canonical table (prompt text repeated on each outcome row)."""
        prompt_cols = self.prompts.select(["dataset", "prompt_id", "prompt", "task"])
        joined = self.outcomes.join(prompt_cols, keys=["dataset", "prompt_id"], join_type="inner")
        return joined.select(OUTCOME_LOG_SCHEMA.names).cast(OUTCOME_LOG_SCHEMA)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Writes the flat canonical table as Parquet, JSONL or CSV (by suffix), atomically."""
        path = Path(path)
        table = self.to_table()
        tmp = path.with_name(f".{path.name}.tmp")
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
        elif suffix in (".jsonl", ".ndjson"):
            import json

            with open(tmp, "w") as handle:
                for row in table.to_pylist():
                    handle.write(json.dumps(row, default=str) + "\n")
        else:
            raise InvalidInputError(f"{path}: write .parquet, .jsonl or .csv")
        os.replace(tmp, path)
        return path


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The schema's columns in its order; absent optional columns become nulls."""
    columns = []
    for spec in schema:
        if spec.name in table.column_names:
            columns.append(table.column(spec.name).cast(spec.type))
        elif spec.nullable:
            columns.append(pa.nulls(table.num_rows, type=spec.type))
        else:
            raise InvalidInputError(f"table lacks required column {spec.name!r}")
    return pa.Table.from_arrays(columns, schema=schema)


def _in(table: pa.Table, keys: set[PromptKey]) -> list[bool]:
    return [
        key in keys
        for key in zip(
            table.column("dataset").to_pylist(), table.column("prompt_id").to_pylist(), strict=True
        )
    ]


def _warn_merged_spellings(outcomes: pa.Table, mapping: dict[str, str]) -> None:
    """Logs a warning for each dataset in which several model names resolve to one id:
    their outcomes are merged as one model's (right for two spellings of one model,
    wrong for two fine-tunes that share a name under different organisations, which
    the catalog's loose matching cannot tell apart)."""
    pairs = outcomes.select(["dataset", "model"]).group_by(["dataset", "model"]).aggregate([])
    by_id: dict[tuple[str, str], list[str]] = {}
    for dataset, name in zip(
        pairs.column("dataset").to_pylist(), pairs.column("model").to_pylist(), strict=True
    ):
        by_id.setdefault((dataset, mapping[name]), []).append(name)
    for (dataset, model_id), spellings in sorted(by_id.items()):
        if len(spellings) > 1:
            logger.warning(
                "dataset %r: model names %s all resolve to %r and are merged as one model; "
                "if they are different models, give them their own catalog entries",
                dataset,
                ", ".join(map(repr, sorted(spellings))),
                model_id,
            )
