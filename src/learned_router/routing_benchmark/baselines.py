"""Learned baselines from the literature, each a :class:`QualityScorer`.

All of them train on the same training split and the same prompt embeddings
as the learned router, tune on the same validation split, and are swept over
cost weights the same way:

- :class:`KNNRouter` (RouterBench's kNN router): a model's predicted quality
  on a prompt is its mean quality on the k most similar training prompts
  (cosine similarity of embeddings); k is chosen on the validation split.
- :class:`MLPRouter` (RouterBench's MLP router): a network from the embedding
  to every model's probability of a good answer (RouterBench fits one MLP
  regressor per model; one network with a head per model is the same
  function class, trained once).
- :class:`MatrixFactorizationRouter` (RouteLLM's "mf", generalised to many
  models): see :class:`learned_router.routing_benchmark._nn.MFNet`.
- :class:`TfidfLogisticRouter`: TF-IDF of the prompt text, one logistic
  regression per model (the only one that reads the text, not the embedding).

numpy only, except TF-IDF + logistic regression, which imports scikit-learn
when fitted (the ``train`` extra).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError
from learned_router.routing_benchmark._nn import MFNet, MLPNet, NetTrainConfig, _AdamNet
from learned_router.routing_benchmark.routers import (
    FloatArray,
    QualityScorer,
    RouterInputs,
    TrainingSet,
)


def _unit_rows(x: npt.NDArray[Any]) -> FloatArray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float64)


def _brier(p: FloatArray, y: FloatArray) -> float:
    return float(np.mean((p - y) ** 2))


def _require_fitted(router: QualityScorer, ready: bool) -> None:
    if not ready:
        raise InvalidInputError(f"{router.name}: call fit() before predict_quality()")


class BestFixedRouter(QualityScorer):
    """Each model's mean quality on the training prompts, the same for every prompt.

    Swept over cost weights it sends each prompt to the model that is best at that
    cost level as the training prompts rank them, given that prompt's expected
    costs: the zero router's choice made without hindsight. (The zero router takes
    the hull of the evaluated prompts' own single-model points, in hindsight and on
    real costs.)

    >>> inputs = RouterInputs(("a", "b"), np.zeros((2, 1), np.float32), ("x", "y"),
    ...                       np.ones((2, 2)))
    >>> router = BestFixedRouter()
    >>> router.fit(TrainingSet(inputs, np.array([[1.0, 0.0], [0.0, 0.0]])))
    >>> router.predict_quality(inputs).tolist()
    [[0.5, 0.0], [0.5, 0.0]]
    """

    name = "best-fixed"
    kind = "fixed"

    def __init__(self) -> None:
        self._means: FloatArray | None = None

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self._means = np.asarray(train.quality, dtype=np.float64).mean(axis=0)

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        _require_fitted(self, self._means is not None)
        assert self._means is not None
        return np.tile(self._means, (len(inputs), 1))


class KNNRouter(QualityScorer):
    """Mean quality of the k nearest training prompts (cosine similarity)."""

    name = "knn"

    def __init__(self, *, k_choices: tuple[int, ...] = (5, 10, 20, 50, 100), block: int = 1024):
        if not k_choices or min(k_choices) < 1:
            raise InvalidInputError(f"k_choices must be positive, got {k_choices}")
        self.k_choices = k_choices
        self.block = block
        self.k = k_choices[0]
        self._train_x: FloatArray | None = None
        self._train_y: FloatArray | None = None

    def _neighbour_means(self, x: FloatArray, ks: tuple[int, ...]) -> dict[int, FloatArray]:
        assert self._train_x is not None
        assert self._train_y is not None
        n_train = self._train_x.shape[0]
        k_max = min(max(ks), n_train)
        out = {k: np.empty((x.shape[0], self._train_y.shape[1])) for k in ks}
        for start in range(0, x.shape[0], self.block):
            sims = x[start : start + self.block] @ self._train_x.T
            top = np.argpartition(-sims, k_max - 1, axis=1)[:, :k_max]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            cumulative = np.cumsum(self._train_y[top], axis=1)  # [b, k_max, m]
            for k in ks:
                kk = min(k, k_max)
                out[k][start : start + self.block] = cumulative[:, kk - 1, :] / kk
        return out

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self._train_x = _unit_rows(train.inputs.embeddings)
        self._train_y = train.quality
        if validation is not None and len(self.k_choices) > 1:
            means = self._neighbour_means(_unit_rows(validation.inputs.embeddings), self.k_choices)
            self.k = min(self.k_choices, key=lambda k: _brier(means[k], validation.quality))
        else:
            self.k = self.k_choices[0]

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        _require_fitted(self, self._train_x is not None)
        return self._neighbour_means(_unit_rows(inputs.embeddings), (self.k,))[self.k]


class _NetRouter(QualityScorer):
    """A numpy network from the prompt embedding to each model's quality."""

    net: _AdamNet

    def __init__(self, net: _AdamNet) -> None:
        self.net = net
        self._fitted = False

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.net.fit(
            np.asarray(train.inputs.embeddings, dtype=np.float64),
            train.quality,
            x_val=None if validation is None else np.asarray(validation.inputs.embeddings, float),
            y_val=None if validation is None else validation.quality,
        )
        self._fitted = True

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        _require_fitted(self, self._fitted)
        return self.net.predict(np.asarray(inputs.embeddings, dtype=np.float64))


class MLPRouter(_NetRouter):
    """An MLP from the prompt embedding to each model's probability of a good answer."""

    name = "mlp"

    def __init__(
        self, *, hidden: tuple[int, ...] = (128, 128), config: NetTrainConfig | None = None
    ) -> None:
        super().__init__(MLPNet(hidden=hidden, config=config or NetTrainConfig()))


class MatrixFactorizationRouter(_NetRouter):
    """RouteLLM's matrix factorisation of prompt and model embeddings, for many models."""

    name = "matrix-factorisation"

    def __init__(self, *, dim: int = 128, config: NetTrainConfig | None = None) -> None:
        super().__init__(MFNet(dim=dim, config=config or NetTrainConfig(learning_rate=3e-3)))


class TfidfLogisticRouter(QualityScorer):
    """TF-IDF of the prompt (words and word pairs) -> one logistic regression per model.

    Soft labels (quality in (0, 1)) are fitted exactly by giving each prompt
    two weighted rows, label 1 with weight q and label 0 with weight 1 - q.
    The inverse regularisation C is chosen on the validation split when
    ``c_choices`` has several values; the default, scikit-learn's C = 1, keeps the
    dev run short (one fit per model; mmlu_pro has 26 models).
    """

    name = "tfidf-logreg"

    def __init__(
        self, *, c_choices: tuple[float, ...] = (1.0,), max_features: int = 50_000
    ) -> None:
        self.c_choices = c_choices
        self.max_features = max_features
        self.c = c_choices[0]
        self._vectorizer: Any = None
        self._heads: list[Any] = []

    def _fit_heads(self, x: Any, quality: FloatArray, c: float) -> list[Any]:
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        n = x.shape[0]
        doubled = sparse.vstack([x, x]).tocsr()
        labels = np.concatenate([np.ones(n), np.zeros(n)])
        heads: list[Any] = []
        for j in range(quality.shape[1]):
            q = quality[:, j]
            if np.all(q == q[0]):
                heads.append(float(q[0]))  # one outcome only: predict it
                continue
            weights = np.concatenate([q, 1.0 - q])
            keep = weights > 0
            # liblinear: 2-5x faster than lbfgs on these sparse fits (1,800 RouterBench
            # prompts x 11k n-grams: 2.5 s vs 10.6 s per model at C=1 on the dev machine).
            model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
            model.fit(doubled[keep], labels[keep], sample_weight=weights[keep])
            heads.append(model)
        return heads

    @staticmethod
    def _predict_heads(heads: list[Any], x: Any) -> FloatArray:
        columns = []
        for head in heads:
            if isinstance(head, float):
                columns.append(np.full(x.shape[0], head))
            else:
                columns.append(head.predict_proba(x)[:, list(head.classes_).index(1.0)])
        return np.stack(columns, axis=1)

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=self.max_features
        )
        try:
            x = self._vectorizer.fit_transform(train.inputs.prompts)
        except ValueError:  # every word rarer than min_df (tiny sets)
            self._vectorizer.set_params(min_df=1)
            x = self._vectorizer.fit_transform(train.inputs.prompts)
        if validation is not None and len(self.c_choices) > 1:
            x_val = self._vectorizer.transform(validation.inputs.prompts)
            best = math.inf
            for c in self.c_choices:
                heads = self._fit_heads(x, train.quality, c)
                score = _brier(self._predict_heads(heads, x_val), validation.quality)
                if score < best:
                    best, self.c, self._heads = score, c, heads
        else:
            self.c = self.c_choices[0]
            self._heads = self._fit_heads(x, train.quality, self.c)

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        _require_fitted(self, self._vectorizer is not None)
        return self._predict_heads(self._heads, self._vectorizer.transform(inputs.prompts))
