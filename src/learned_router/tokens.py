"""Token counting and expected output length.

Which tokenizer counts input tokens: the WordPiece tokenizer of the router's
own encoder (all-MiniLM-L6-v2, the bert-base-uncased vocabulary), shipped in
``assets/tokenizer.json``. Why: the router tokenizes every prompt for its
encoder anyway, so counting is free at route time, and it works offline.
Billing tokenizers differ per provider (GPT's BPE, Claude's, Llama's
SentencePiece) and are not all available offline. Measured against
RouterBench's real per-call costs, the estimate is uniformly high: real /
estimated = 0.81-0.84 for all 11 models and providers (WordPiece splits those
few-shot prompts into ~20% more tokens than the billing tokenizers did).
Being uniform, the bias leaves relative costs, which routing compares,
unchanged; ``docs/data.md`` has the measurement.

Output tokens are unknown before the call, so they are estimated from the
logs: the mean answer length per (model, task), falling back to the model,
then the dataset's task pooled over models, then the dataset, then
everything. Lengths come from ``output_tokens`` if logged, else from the
response text, else from ``output_chars`` / :data:`CHARS_PER_OUTPUT_TOKEN`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from learned_router.data.log import OutcomeLog

TOKENIZER_PATH = Path(__file__).parent / "assets" / "tokenizer.json"
#: Characters per WordPiece token in long-form answers: 4.46 measured on 8,000
#: AlpacaEval 2 responses; code and one-letter answers run shorter (2.75 on
#: RouterBench's), so 4.0 is a middle that errs towards more tokens.
CHARS_PER_OUTPUT_TOKEN = 4.0


def load_tokenizer(path: str | os.PathLike[str] | None = None) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` with padding and truncation switched off.

    The packaged ``tokenizer.json`` pads and truncates to 128 tokens; both are
    turned off here so that callers decide (the encoder truncates on its own).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path or TOKENIZER_PATH))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class TokenCounter:
    """Counts tokens of texts (without the [CLS]/[SEP] markers).

    >>> TokenCounter().count(["Hello world!", ""]).tolist()
    [3, 0]
    """

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self._tokenizer = tokenizer or load_tokenizer()

    def count(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))


def observed_output_tokens(log: OutcomeLog, counter: TokenCounter) -> npt.NDArray[np.float64]:
    """Output tokens per outcome row, NaN where unknown (a length of 0 counts as unknown)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = log.outcomes

    def floats(name: str) -> npt.NDArray[np.float64]:
        values = pc.fill_null(out.column(name).cast(pa.float64()), np.nan).to_numpy()
        return np.array(values, dtype=np.float64)  # a writable copy

    tokens = floats("output_tokens")
    from_chars = floats("output_chars") / CHARS_PER_OUTPUT_TOKEN
    responses = out.column("response").to_pylist()
    need = [i for i, r in enumerate(responses) if r and not (tokens[i] > 0)]
    if need:
        counted = counter.count([responses[i] for i in need]).astype(np.float64)
        tokens[need] = counted
    tokens = np.where(tokens > 0, tokens, from_chars)
    # MMLU-Pro's logs store 0 characters for models whose answers were not
    # kept; a real empty answer is rare and costs ~nothing, so 0 = unknown.
    return np.where(tokens > 0, tokens, np.nan)


@dataclass(frozen=True)
class OutputLengthModel:
    """Expected output tokens per (model, task), with fallbacks. JSON-serialisable."""

    by_model_task: Mapping[str, Mapping[str, float]]
    by_model: Mapping[str, float]
    by_dataset_task: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_dataset: Mapping[str, float] = field(default_factory=dict)
    overall: float = 256.0

    @classmethod
    def fit(
        cls,
        log: OutcomeLog,
        counter: TokenCounter | None = None,
        *,
        tokens: npt.NDArray[np.float64] | None = None,
    ) -> OutputLengthModel:
        """Means of observed answer lengths in ``log`` (``tokens``: its rows'
        :func:`observed_output_tokens`, where the caller has counted them already)."""
        if tokens is None:
            tokens = observed_output_tokens(log, counter or TokenCounter())
        models = log.outcomes.column("model").to_pylist()
        datasets = log.outcomes.column("dataset").to_pylist()
        ids = log.outcomes.column("prompt_id").to_pylist()
        task_of = dict(
            zip(
                zip(
                    log.prompts.column("dataset").to_pylist(),
                    log.prompts.column("prompt_id").to_pylist(),
                    strict=True,
                ),
                log.prompts.column("task").to_pylist(),
                strict=True,
            )
        )
        sums: dict[tuple[str, ...], list[float]] = {}
        key: tuple[str, ...]
        for value, model, dataset, pid in zip(tokens, models, datasets, ids, strict=True):
            if math.isnan(value):
                continue
            task = task_of.get((dataset, pid)) or ""
            for key in (
                ("mt", model, task),
                ("m", model),
                ("dt", dataset, task),
                ("d", dataset),
                ("all",),
            ):
                acc = sums.setdefault(key, [0.0, 0.0])
                acc[0] += value
                acc[1] += 1
        mean = {key: s / n for key, (s, n) in sums.items()}
        by_model_task: dict[str, dict[str, float]] = {}
        by_dataset_task: dict[str, dict[str, float]] = {}
        for key, value in mean.items():
            if key[0] == "mt":
                by_model_task.setdefault(key[1], {})[key[2]] = value
            elif key[0] == "dt":
                by_dataset_task.setdefault(key[1], {})[key[2]] = value
        return cls(
            by_model_task=by_model_task,
            by_model={k[1]: v for k, v in mean.items() if k[0] == "m"},
            by_dataset_task=by_dataset_task,
            by_dataset={k[1]: v for k, v in mean.items() if k[0] == "d"},
            overall=mean.get(("all",), cls.overall),
        )

    def expected(
        self,
        models: Sequence[str],
        tasks: Sequence[str | None],
        datasets: Sequence[str | None] | None = None,
    ) -> npt.NDArray[np.float64]:
        """``[n_prompts, n_models]`` expected output tokens.

        >>> m = OutputLengthModel({"a": {"qa": 10.0}}, {"a": 20.0, "b": 30.0}, overall=50.0)
        >>> m.expected(["a", "b", "c"], ["qa", "chat"]).tolist()
        [[10.0, 30.0, 50.0], [20.0, 30.0, 50.0]]
        """
        datasets = datasets if datasets is not None else [None] * len(tasks)
        out = np.empty((len(tasks), len(models)), dtype=np.float64)
        for i, (task, dataset) in enumerate(zip(tasks, datasets, strict=True)):
            task = task or ""
            for j, model in enumerate(models):
                value = self.by_model_task.get(model, {}).get(task)
                if value is None:
                    value = self.by_model.get(model)
                if value is None and dataset is not None:
                    value = self.by_dataset_task.get(dataset, {}).get(
                        task, self.by_dataset.get(dataset)
                    )
                out[i, j] = self.overall if value is None else value
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "by_model_task": self.by_model_task,
                "by_model": self.by_model,
                "by_dataset_task": self.by_dataset_task,
                "by_dataset": self.by_dataset,
                "overall": self.overall,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> OutputLengthModel:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            by_model_task=raw["by_model_task"],
            by_model=raw["by_model"],
            by_dataset_task=raw.get("by_dataset_task", {}),
            by_dataset=raw.get("by_dataset", {}),
            overall=float(raw["overall"]),
        )
