"""Adding a model to a trained bundle without retraining (training.add_model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bundles import make_tiny_bundle
from learned_router.bundle import Bundle
from learned_router.errors import InvalidInputError
from learned_router.router import Router

pytest.importorskip("torch", reason="training needs the train extra")
from training.add_model import add_model


def _log(path: Path, n: int = 300, seed: int = 0) -> Path:
    """ours-8b answers ordinary prompts and fails contract questions."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        hard = i % 3 == 0
        prompt = f"review contract clause {i}" if hard else f"summarise meeting note {i}"
        quality = float(rng.random() < (0.1 if hard else 0.9))
        rows.append({"prompt_id": str(i), "prompt": prompt, "model": "ours-8b", "quality": quality})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_new_model_learns_from_a_few_hundred_labels(tmp_path: Path) -> None:
    base = make_tiny_bundle(tmp_path / "base", models=("small", "mid", "frontier"))
    before = (base / "heads.npz").read_bytes()
    result = add_model(base, [str(_log(tmp_path / "new.jsonl"))], "ours-8b", tmp_path / "out")
    assert result.labels == 300
    assert (base / "heads.npz").read_bytes() == before  # the old bundle is untouched
    bundle = Bundle.load(result.bundle)
    assert bundle.models == ("small", "mid", "frontier", "ours-8b")
    assert bundle.manifest.added_models[0].model == "ours-8b"
    router = Router.load(result.bundle)
    p = router.predict(
        ["summarise meeting note 999", "review contract clause 999"], models=["ours-8b"]
    )
    assert p[0, 0] > 0.7
    assert p[1, 0] < 0.3
    # The existing heads are exactly as before.
    old = Router.load(base).predict(["summarise meeting note 999"], models=["small", "mid"])
    new = router.predict(["summarise meeting note 999"], models=["small", "mid"])
    np.testing.assert_allclose(old, new)


def test_add_model_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    base = make_tiny_bundle(tmp_path / "base", models=("small", "mid", "frontier"))
    log = _log(tmp_path / "new.jsonl", n=20)
    with pytest.raises(InvalidInputError, match="at least"):
        add_model(base, [str(log)], "ours-8b", tmp_path / "out")
    with pytest.raises(InvalidInputError, match="already has a head"):
        add_model(base, [str(_log(tmp_path / "more.jsonl"))], "mid", tmp_path / "out")
    with pytest.raises(InvalidInputError, match="not in the bundle's catalog"):
        add_model(base, [str(log)], "gpt-99", tmp_path / "out")


def test_fit_new_model_shrinks_towards_the_prior() -> None:
    from training.heads import fit_new_model

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(float)
    prior = np.array([0.0, 2.0, 0.0, 0.0])
    strong, _ = fit_new_model(x, y, l2=1e6, prior=prior)
    np.testing.assert_allclose(strong, prior, atol=1e-3)  # all prior, no data
    weak, _ = fit_new_model(x, y, l2=1e-3, prior=prior)
    assert weak[0] > 1.0
    assert abs(weak[1]) < abs(weak[0])
    chosen, _ = fit_new_model(x, y, prior=prior)  # l2 by cross-validation
    assert np.all(np.isfinite(chosen))
    assert chosen[0] > 0
    with pytest.raises(ValueError, match="prior has shape"):
        fit_new_model(x, y, prior=np.zeros(3))


def test_fit_new_model_borrows_from_the_models_most_like_it() -> None:
    """With few, noisy labels, a new model whose ranking resembles some
    existing models' is fitted better by shrinking towards them (chosen by
    cross-validation among the candidates) than from scratch."""
    from training.heads import fit_new_model, prior_candidates

    rng = np.random.default_rng(2)
    truth = rng.normal(size=32)
    x = rng.normal(size=(2000, 32))
    p = 1 / (1 + np.exp(-(x @ truth) / 3))
    y = (rng.random(2000) < p).astype(float)
    # 20 unrelated models and 3 that rank prompts like the new one.
    existing = np.vstack([rng.normal(size=(20, 32)), truth / 3 + 0.05 * rng.normal(size=(3, 32))])
    few = slice(0, 60)
    top = prior_candidates(x[few], y[few], existing, top=3)["top3"]
    assert np.corrcoef(top, truth)[0, 1] > 0.95  # the look-alikes were found
    borrowed, c1 = fit_new_model(x[few], y[few], existing=existing)
    scratch, c2 = fit_new_model(x[few], y[few], l2=1.0)
    test = slice(1000, 2000)

    def logloss(v: np.ndarray, c: float) -> float:
        q = np.clip(1 / (1 + np.exp(-(x[test] @ v + c))), 1e-7, 1 - 1e-7)
        return float(-np.mean(y[test] * np.log(q) + (1 - y[test]) * np.log(1 - q)))

    assert logloss(borrowed, c1) < logloss(scratch, c2)
    with pytest.raises(ValueError, match="not both"):
        fit_new_model(x[few], y[few], prior=truth, existing=existing)


def _latent_base(tmp_path: Path) -> Path:
    """The tiny bundle's encoder with a latent-v2 quality model for small, mid and
    frontier, trained on contract / meeting prompts (small fails contracts)."""
    from training.quality_model import QualityConfig, QualityData, fit_quality_model

    from bundles import tiny_catalog
    from learned_router.bundle import BundleManifest, EncoderInfo, ModelEntry, write_bundle
    from learned_router.tokens import OutputLengthModel

    source = Bundle.load(make_tiny_bundle(tmp_path / "tiny", models=("small", "mid", "frontier")))
    prompts = [
        f"review contract clause {i}" if i % 3 == 0 else f"summarise meeting note {i}"
        for i in range(600)
    ]
    hard = np.array([i % 3 == 0 for i in range(600)])
    rng = np.random.default_rng(0)
    rate = np.stack([np.where(hard, 0.1, 0.8), np.where(hard, 0.6, 0.9), np.full(600, 0.95)], 1)
    labels = (rng.random((600, 3)) < rate).astype(np.float32)
    data = QualityData(
        embeddings=source.encoder().embed(prompts),
        labels=labels,
        source=np.zeros(600, np.int64),
        dataset=np.zeros(600, np.int64),
    )
    config = QualityConfig(hidden=8, epochs=30, centroids=8, seed=0, bandwidth=0.2)
    names = ("small", "mid", "frontier")
    quality, _ = fit_quality_model(data, None, names, ["d"], [0, 1, 2], config)
    return write_bundle(
        tmp_path / "latent",
        manifest=BundleManifest(
            name="latent",
            encoder=EncoderInfo(truncation=source.truncation, dim=data.embeddings.shape[1]),
        ),
        quality=quality,
        entries=[ModelEntry(id=m) for m in names],
        encoder_onnx=source.path / "encoder.onnx",
        output_lengths=OutputLengthModel(by_model_task={}, by_model={}, overall=100.0),
        catalog=tiny_catalog(),
        model_card="# latent test bundle\n",
    ).path


def test_a_new_model_joins_a_latent_bundle_comparably(tmp_path: Path) -> None:
    base = _latent_base(tmp_path)
    before = (base / "heads.npz").read_bytes()
    result = add_model(base, [str(_log(tmp_path / "new.jsonl"))], "ours-8b", tmp_path / "out")
    assert (base / "heads.npz").read_bytes() == before
    bundle = Bundle.load(result.bundle)
    assert bundle.manifest.heads.kind == "latent-v2"
    assert bundle.models == ("small", "mid", "frontier", "ours-8b")
    router = Router.load(result.bundle)
    p = router.predict(
        ["summarise meeting note 999", "review contract clause 999"], models=["ours-8b"]
    )
    assert p[0, 0] > 0.7
    assert p[1, 0] < 0.3
    # Its prior sits among the others' like its record (mostly right, fails contracts):
    # below frontier, which passes everything.
    quality = bundle.quality_model()
    prior = dict(zip(bundle.models, quality.prior, strict=True))  # type: ignore[attr-defined]
    assert prior["ours-8b"] < prior["frontier"]
    decision = router.route("summarise meeting note 998", min_quality=0.5)
    assert decision.candidate("ours-8b").support > 1.0
    old = Router.load(base).predict(["summarise meeting note 999"], models=["small", "mid"])
    new = router.predict(["summarise meeting note 999"], models=["small", "mid"])
    np.testing.assert_allclose(old, new)


def test_a_priced_model_without_a_head_joins_the_shipped_bundle(tmp_path: Path) -> None:
    """The shipped catalog prices a few of today's models that no development set has
    (docs/catalog.md, "The shipped catalog"): the shipped router refuses them as
    candidates until a service adds one from its own labels, by any name it uses."""
    from learned_router.errors import LearnedRouterError

    shipped = Path(__file__).resolve().parents[1] / "models" / "default"
    router = Router.load(shipped)
    with pytest.raises(LearnedRouterError, match="gpt-4o-2024-11-20"):
        router.route("summarise meeting note 1", candidates=["gpt-4o-2024-11-20", "gpt-4o"])
    log = _log(tmp_path / "new.jsonl")
    log.write_text(log.read_text().replace('"ours-8b"', '"openai/gpt-4o-2024-11-20"'))
    result = add_model(shipped, [str(log)], "gpt-4o-2024-11-20", tmp_path / "out")
    assert result.labels == 300
    added = Router.load(result.bundle)
    decision = added.route(
        "summarise meeting note 999", candidates=["gpt-4o-2024-11-20", "gpt-4o-mini"]
    )
    assert decision.model in {"gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18"}
    p = added.predict(
        ["summarise meeting note 999", "review contract clause 999"], models=["gpt-4o-2024-11-20"]
    )
    assert p[0, 0] > p[1, 0]
