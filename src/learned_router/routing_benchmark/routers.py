"""The router interface of the benchmark, and the routers that need no training data
beyond model averages: fixed policies, random mixtures, heuristic triage, the oracle.

Every router has one small interface (:class:`BenchRouter`): ``fit(train,
validation=...)`` on the training split, then ``route(inputs)`` on held-out
prompts, which returns a :class:`Routing`: one chosen model per prompt for each
of the router's operating points. Routers that predict each model's quality
(:class:`QualityScorer`) only implement ``predict_quality``; their operating
points come from sweeping a cost weight through the selection kernel
(:func:`learned_router.select_models`), as RouterBench sweeps its
"willingness to pay".

Routers see only what a deployed router sees: the prompt text, its embedding,
the candidate models and their *expected* cost (catalog prices x token
estimates). Outcomes of held-out prompts are never passed to ``route``; only
the oracle is given them, by the harness, to draw the upper bound.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError
from learned_router.selection import select_models

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RouterInputs:
    """What a router knows about the prompts it routes (no outcomes)."""

    prompts: tuple[str, ...]
    embeddings: npt.NDArray[np.float32]
    """``[n, d]``: the prompts embedded by the injected encoder."""
    models: tuple[str, ...]
    expected_cost_usd: FloatArray
    """``[n, m]``: the cost each model is expected to have on each prompt, known
    before calling it (catalog prices x counted input tokens x expected output
    tokens fitted on the training split)."""
    quality_scale: str | None = None
    """The scale the outcomes are graded on (e.g. a judge's win rate), when the
    dataset has one: a deployment knows which judge grades its traffic."""

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
            raise InvalidInputError(
                f"embeddings must be [{n}, d] for {n} prompts, got {self.embeddings.shape}"
            )
        if self.expected_cost_usd.shape != (n, m):
            raise InvalidInputError(
                f"expected_cost_usd must be [{n}, {m}], got {self.expected_cost_usd.shape}"
            )

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass(frozen=True)
class TrainingSet:
    """Prompts with every model's observed quality (the training or validation split)."""

    inputs: RouterInputs
    quality: FloatArray
    """``[n, m]`` in [0, 1], complete (the harness drops incomplete cells first)."""

    def __post_init__(self) -> None:
        shape = (len(self.inputs.prompts), len(self.inputs.models))
        if self.quality.shape != shape:
            raise InvalidInputError(f"quality must be {list(shape)}, got {self.quality.shape}")
        if np.isnan(self.quality).any():
            raise InvalidInputError("training quality must be complete (no NaN)")


@dataclass(frozen=True)
class Routing:
    """A router's decisions on held-out prompts."""

    index: IndexArray
    """``[k, n]``: the model chosen for each prompt at each of k operating points."""
    labels: tuple[str, ...]
    """One label per operating point (e.g. ``cost_weight=12.5``)."""
    predicted_quality: FloatArray | None = None
    """``[n, m]`` for routers that predict quality (used for the two-model metrics)."""
    strong_preference: FloatArray | None = None
    """``[n]`` for routers without predictions that still rank prompts by how
    much they need the strong model (heuristic tiers, random draws)."""

    def __post_init__(self) -> None:
        if self.index.ndim != 2 or self.index.shape[0] != len(self.labels):
            raise InvalidInputError(
                f"index must be [k, n] with k = {len(self.labels)} labels, got {self.index.shape}"
            )


@runtime_checkable
class BenchRouter(Protocol):
    """Anything the benchmark can evaluate."""

    name: str
    kind: str
    """One of: fixed, heuristic, learned baseline, learned router, oracle."""

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        """Learns from the training split (``validation`` for tuning and early stopping)."""
        ...

    def route(self, inputs: RouterInputs) -> Routing:
        """Decides on held-out prompts, at every operating point."""
        ...


def cost_weight_grid(expected_cost_usd: FloatArray, *, points: int = 49) -> FloatArray:
    """Cost weights that sweep from "quality only" (0) to "cost only".

    The selection maximises ``p - w * cost``; with ``c`` the mean expected
    cost, ``w * c`` runs geometrically from 1e-3 (cost barely matters) to 1e3
    (only cost matters), so the grid fits any price scale.

    >>> grid = cost_weight_grid(np.array([[0.001, 0.01]]), points=3)
    >>> [float(round(w, 6)) for w in grid]
    [0.0, 0.181818, 181.818182, 181818.181818]
    """
    scale = float(np.nanmean(expected_cost_usd))
    if not scale > 0:
        raise InvalidInputError("expected costs must be positive to build a cost-weight grid")
    return np.concatenate(([0.0], np.geomspace(1e-3, 1e3, points) / scale))


def sweep_cost_weights(
    p_success: FloatArray, cost_usd: FloatArray, weights: Sequence[float] | FloatArray
) -> IndexArray:
    """``[len(weights), n]`` chosen models: maximise ``p - w * cost`` for each weight.

    >>> sweep_cost_weights(np.array([[0.9, 0.6]]), np.array([[1.0, 0.1]]), [0.0, 10.0]).tolist()
    [[0], [1]]
    """
    rows = [select_models(p_success, cost_usd, cost_weight=float(w)).index for w in weights]
    return np.stack(rows).astype(np.int64)


class QualityScorer(abc.ABC):
    """A router that predicts every model's quality on a prompt, then picks by cost weight.

    Subclasses implement :meth:`fit` and :meth:`predict_quality`; ``route``
    sweeps :func:`cost_weight_grid` through the selection kernel.
    """

    name: str = "scorer"
    kind: str = "learned baseline"
    sweep_points: int = 49

    @abc.abstractmethod
    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        """Learns from the training split."""

    @abc.abstractmethod
    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        """``[n, m]`` predicted quality (probability of a good answer) per prompt and model."""

    def route(self, inputs: RouterInputs) -> Routing:
        """Sweeps cost weights over the predicted quality and expected costs."""
        p = np.clip(np.asarray(self.predict_quality(inputs), dtype=np.float64), 0.0, 1.0)
        if p.shape != inputs.expected_cost_usd.shape:
            raise InvalidInputError(
                f"{self.name}: predict_quality returned {p.shape}, expected "
                f"{inputs.expected_cost_usd.shape}"
            )
        weights = cost_weight_grid(inputs.expected_cost_usd, points=self.sweep_points)
        index = sweep_cost_weights(p, inputs.expected_cost_usd, weights)
        return Routing(
            index=index,
            labels=tuple(f"cost_weight={w:.4g}" for w in weights),
            predicted_quality=p,
        )


# --- reference models chosen on the training split ------------------------------------------


@dataclass(frozen=True)
class ReferenceModels:
    """The cheap, mid and frontier models, chosen on the training split.

    cheap: the lowest mean expected cost. frontier: the best mean quality (the
    "best single model"; ties to the cheaper). mid: the best mean quality among
    the other models whose mean cost is at most the geometric mean of the
    cheap and frontier costs (the cheap model if there is none).
    """

    cheap: int
    mid: int
    frontier: int

    @classmethod
    def choose(cls, train: TrainingSet) -> ReferenceModels:
        """Picks the three models from a training set.

        >>> inputs = RouterInputs(("a", "b"), np.zeros((2, 1), np.float32), ("x", "y", "z"),
        ...                       np.array([[1.0, 4.0, 20.0]] * 2))
        >>> ReferenceModels.choose(TrainingSet(inputs, np.array([[0.2, 0.6, 0.9]] * 2)))
        ReferenceModels(cheap=0, mid=1, frontier=2)
        """
        quality = train.quality.mean(axis=0)
        cost = train.inputs.expected_cost_usd.mean(axis=0)
        models = np.arange(quality.size)
        cheap = int(np.lexsort((-quality, cost))[0])
        frontier = int(np.lexsort((cost, -quality))[0])
        ceiling = float(np.sqrt(cost[cheap] * cost[frontier]))
        candidates = [j for j in models if j not in (cheap, frontier) and cost[j] <= ceiling]
        mid = max(candidates, key=lambda j: (quality[j], -cost[j])) if candidates else cheap
        return cls(cheap=cheap, mid=int(mid), frontier=frontier)


def _constant(index: int, n: int) -> IndexArray:
    return np.full((1, n), index, dtype=np.int64)


class AlwaysCheapest:
    """Sends every prompt to the cheapest model (lowest mean expected cost on train)."""

    name = "always-cheapest"
    kind = "fixed"

    def __init__(self) -> None:
        self.model: int | None = None

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.model = ReferenceModels.choose(train).cheap

    def route(self, inputs: RouterInputs) -> Routing:
        if self.model is None:
            raise InvalidInputError(f"{self.name}: call fit() before route()")
        return Routing(index=_constant(self.model, len(inputs)), labels=("always",))


class AlwaysBest:
    """Sends every prompt to the model with the best mean quality on the training split."""

    name = "always-best"
    kind = "fixed"

    def __init__(self) -> None:
        self.model: int | None = None

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.model = ReferenceModels.choose(train).frontier

    def route(self, inputs: RouterInputs) -> Routing:
        if self.model is None:
            raise InvalidInputError(f"{self.name}: call fit() before route()")
        return Routing(index=_constant(self.model, len(inputs)), labels=("always",))


class RandomMixture:
    """Sends a share f of prompts, drawn at random, to the best model and the rest to
    the cheapest, for f = 0, 1/(steps-1), ..., 1 (RouteLLM's random router)."""

    name = "random-mixture"
    kind = "fixed"

    def __init__(self, *, steps: int = 11, seed: int = 0) -> None:
        if steps < 2:
            raise InvalidInputError(f"steps must be >= 2, got {steps}")
        self.steps = steps
        self.seed = seed
        self.models: ReferenceModels | None = None

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.models = ReferenceModels.choose(train)

    def route(self, inputs: RouterInputs) -> Routing:
        if self.models is None:
            raise InvalidInputError(f"{self.name}: call fit() before route()")
        draw = np.random.default_rng(self.seed).random(len(inputs))
        shares = np.linspace(0.0, 1.0, self.steps)
        index = np.where(
            draw[None, :] < shares[:, None], self.models.frontier, self.models.cheap
        ).astype(np.int64)
        return Routing(
            index=index,
            labels=tuple(f"best_share={f:.2f}" for f in shares),
            strong_preference=draw,
        )


# --- heuristic triage ------------------------------------------------------------------------


@dataclass(frozen=True)
class TriageRules:
    """Rules that put a prompt in a low, medium or high tier.

    A prompt scores points: +1 from ``medium_chars`` characters and +1 more from
    ``long_chars``; +1 for any ``complex_keywords``; +1 for any ``code_markers``;
    -1 for any ``simple_keywords`` when no complex keyword is present.
    Tier = high from ``high_from`` points, medium from ``medium_from``, else
    low. Keywords match whole words, case-insensitively; code markers match as
    written.
    """

    simple_keywords: tuple[str, ...] = (
        "format",
        "convert",
        "translate",
        "summarize",
        "summarise",
        "summary",
        "rewrite",
        "rephrase",
        "list",
        "extract",
        "classify",
        "correct the grammar",
        "spell",
    )
    complex_keywords: tuple[str, ...] = (
        "analyze",
        "analyse",
        "analysis",
        "prove",
        "derive",
        "explain why",
        "design",
        "optimize",
        "optimise",
        "debug",
        "step by step",
        "compare",
        "evaluate",
        "calculate",
        "solve",
        "reason",
    )
    code_markers: tuple[str, ...] = (
        "```",
        "def ",
        "class ",
        "function ",
        "#include",
        "import ",
        "return ",
        "=>",
        "};",
        "SELECT ",
        "public static",
    )
    medium_chars: int = 500
    long_chars: int = 2000
    medium_from: int = 1
    high_from: int = 2

    def tiers(self, prompts: Sequence[str]) -> npt.NDArray[np.int64]:
        """0 (low), 1 (medium) or 2 (high) per prompt.

        >>> TriageRules().tiers(["Convert 3 km to miles.", "Analyze this proof step by step.",
        ...                      "def f(x):\\n    return x  # why does this fail? debug it"])
        array([0, 1, 2])
        """
        simple = _word_pattern(self.simple_keywords)
        complex_ = _word_pattern(self.complex_keywords)
        out = np.zeros(len(prompts), dtype=np.int64)
        for i, text in enumerate(prompts):
            points = int(len(text) >= self.medium_chars) + int(len(text) >= self.long_chars)
            has_complex = bool(complex_.search(text))
            points += int(has_complex)
            points += int(any(marker in text for marker in self.code_markers))
            if not has_complex and simple.search(text):
                points -= 1
            out[i] = 2 if points >= self.high_from else 1 if points >= self.medium_from else 0
        return out


def _word_pattern(words: Sequence[str]) -> re.Pattern[str]:
    if not words:
        return re.compile(r"(?!)")  # matches nothing
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


@dataclass
class HeuristicTriage:
    """Rule-based routing: :class:`TriageRules` tiers -> the cheap / mid / frontier model.

    The "heuristic routing" the learned router must beat. Models are chosen
    on the training split (:class:`ReferenceModels`). Besides the default
    mapping (low -> cheap, medium -> mid, high -> frontier) it reports the
    variants a user might configure, down to "everything -> cheap" and up to
    "everything -> frontier" (the settings every swept router also has), so it
    gets a curve, not one point.
    """

    rules: TriageRules = field(default_factory=TriageRules)
    name: str = "heuristic-triage"
    kind: str = "heuristic"
    models: ReferenceModels | None = None

    MAPPINGS: ClassVar[tuple[tuple[str, tuple[str, str, str]], ...]] = (
        ("everything->cheap", ("cheap", "cheap", "cheap")),
        ("low,medium->cheap high->frontier", ("cheap", "cheap", "frontier")),
        ("low->cheap medium->mid high->frontier (default)", ("cheap", "mid", "frontier")),
        ("low->cheap medium,high->frontier", ("cheap", "frontier", "frontier")),
        ("low->mid medium,high->frontier", ("mid", "frontier", "frontier")),
        ("everything->frontier", ("frontier", "frontier", "frontier")),
    )

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.models = ReferenceModels.choose(train)

    def route(self, inputs: RouterInputs) -> Routing:
        if self.models is None:
            raise InvalidInputError(f"{self.name}: call fit() before route()")
        tiers = self.rules.tiers(inputs.prompts)
        rows = []
        for _, mapping in self.MAPPINGS:
            per_tier = np.array([getattr(self.models, role) for role in mapping], dtype=np.int64)
            rows.append(per_tier[tiers])
        return Routing(
            index=np.stack(rows),
            labels=tuple(label for label, _ in self.MAPPINGS),
            strong_preference=tiers.astype(np.float64),
        )


# --- the oracle ------------------------------------------------------------------------------


class Oracle:
    """The upper bound: knows every model's outcome on every held-out prompt.

    At cost weight 0 it sends each prompt to the cheapest of the models that do
    best on it (for 0/1 labels: the cheapest model that answers correctly, or
    the cheapest model when none does); larger weights trade quality for cost
    with perfect knowledge. It routes on the *real* costs. The harness gives
    it the held-out outcomes with :meth:`reveal`; no other router gets them.
    """

    name = "oracle"
    kind = "oracle"

    def __init__(self, *, sweep_points: int = 49) -> None:
        self.sweep_points = sweep_points
        self._quality: FloatArray | None = None
        self._cost: FloatArray | None = None

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        """Nothing to learn."""

    def reveal(self, quality: FloatArray, cost_usd: FloatArray) -> None:
        """Gives the oracle the outcomes and real costs of the prompts it will route."""
        self._quality, self._cost = quality, cost_usd

    def route(self, inputs: RouterInputs) -> Routing:
        if self._quality is None or self._cost is None:
            raise InvalidInputError("oracle: call reveal() with the held-out outcomes first")
        if self._quality.shape != inputs.expected_cost_usd.shape:
            raise InvalidInputError("oracle: revealed outcomes do not match the prompts routed")
        weights = cost_weight_grid(self._cost, points=self.sweep_points)
        return Routing(
            index=sweep_cost_weights(self._quality, self._cost, weights),
            labels=tuple(f"cost_weight={w:.4g}" for w in weights),
            predicted_quality=self._quality,
        )
