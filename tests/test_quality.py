"""The latent quality model (learned_router.quality, training/quality_model.py):
support-aware shrinkage, per-source links, comparable models, deployments,
per-prompt answer lengths, and the bundle round trip through the Router."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bundles import DIM, MODELS, make_tiny_bundle, tiny_catalog
from learned_router import Router
from learned_router.bundle import Bundle, BundleManifest, EncoderInfo, ModelEntry, write_bundle
from learned_router.encoder import Truncation
from learned_router.errors import BundleError, InvalidInputError
from learned_router.quality import LatentQualityModel, sigmoid, tiny_arrays
from learned_router.tokens import OutputLengthModel

torch = pytest.importorskip("torch")
from training.quality_model import (  # noqa: E402  (needs torch)
    QualityConfig,
    QualityData,
    centroid_counts,
    centroid_label_sums,
    fit_lengths,
    fit_quality_model,
    irt_prior,
)


def tiny(models: int = 2, *, prior_strength: float = 1.0) -> LatentQualityModel:
    return LatentQualityModel.from_arrays(
        tiny_arrays(dim=3, models=models),
        models=tuple(f"m{j}" for j in range(models)),
        sources=("s",),
        bandwidth=0.1,
        prior_strength=prior_strength,
    )


def test_far_off_prompts_fall_back_to_each_models_overall_record() -> None:
    model = tiny()
    near = np.array([[1.0, 0.0, 0.0]], np.float32)  # on the centroid holding model 0's labels
    far = np.array([[0.0, 0.0, 1.0]], np.float32)  # like nothing in training
    p_far = model.predict(far)
    assert p_far.support is not None
    assert p_far.support.max() < 1e-3
    prior = sigmoid(model.prior.astype(np.float64))
    np.testing.assert_allclose(p_far.p_success[0], prior, atol=1e-3)
    p_near = model.predict(near)
    assert p_near.support is not None
    assert p_near.support[0, 0] == pytest.approx(10.0, rel=1e-6)


def test_verbosity_is_trusted_where_the_model_answered_and_shrinks_off_it() -> None:
    arrays = tiny_arrays(dim=3, models=2)
    arrays["length_offset"] = np.array([1.0, -1.0], np.float32)  # m0 long-winded, m1 terse
    arrays["centroid_counts"][0] = [1000.0, 1000.0]  # both graded near e_0, nowhere else
    model = LatentQualityModel.from_arrays(
        arrays, models=("m0", "m1"), sources=("s",), bandwidth=0.05, prior_strength=1.0
    )
    near = model.predict(np.array([[1.0, 0.0, 0.0]], np.float32)).output_tokens
    far = model.predict(np.array([[0.0, 0.0, 1.0]], np.float32)).output_tokens
    assert near is not None
    assert far is not None
    assert near[0, 0] / near[0, 1] == pytest.approx(np.exp(2.0), rel=1e-2)
    assert far[0, 0] / far[0, 1] == pytest.approx(1.0, abs=1e-3)  # the prompt's typical length
    assert far[0, 0] == pytest.approx(100.0, rel=1e-3)
    # The verbosity offsets can have their own, heavier shrinkage than quality.
    heavy = dataclasses.replace(model, length_prior_strength=2000.0)
    shrunk = heavy.predict(np.array([[1.0, 0.0, 0.0]], np.float32)).output_tokens
    assert shrunk is not None
    assert shrunk[0, 0] / shrunk[0, 1] == pytest.approx(np.exp(2.0 * 1000 / 3000), rel=1e-2)
    assert heavy.to_stored().calibration["length_prior_strength"] == 2000.0


def test_trust_grows_with_support() -> None:
    weak, strong = tiny(prior_strength=1000.0), tiny(prior_strength=0.01)
    near = np.array([[1.0, 0.0, 0.0]], np.float32)
    prior = sigmoid(np.array([weak.prior[0]], dtype=np.float64))[0]
    # A large prior strength keeps the prediction at the prior; a small one trusts the prompt.
    assert abs(weak.p_success(near)[0, 0] - prior) < abs(strong.p_success(near)[0, 0] - prior)


def test_joint_trust_compares_candidates_only_where_every_one_is_supported(
    tmp_path: Path,
) -> None:
    per_model = tiny(prior_strength=0.01)
    joint = dataclasses.replace(per_model, joint_trust=True)
    near = np.array([[1.0, 0.0, 0.0]], np.float32)  # m0 graded here, m1 never
    prior = sigmoid(per_model.prior.astype(np.float64))
    raw = sigmoid(per_model.latent(near)[0])
    # Per model, m0 follows the prompt while m1 stays at its prior.
    np.testing.assert_allclose(per_model.p_success(near)[0], [raw[0], prior[1]], rtol=1e-3)
    # Jointly, the unsupported candidate holds both at their priors ...
    np.testing.assert_allclose(joint.p_success(near)[0], prior, rtol=1e-4)
    # ... and m0 alone is trusted as before; support itself is the same either way.
    np.testing.assert_allclose(joint.p_success(near, models=["m0"])[0], [raw[0]], rtol=1e-3)
    support = joint.predict(near).support
    assert support is not None
    assert support[0, 0] == pytest.approx(10.0, rel=1e-6)
    # The setting travels in calibration.json; an unknown one is refused.
    stored = joint.to_stored()
    assert stored.calibration["trust"] == "joint"
    assert "trust" not in per_model.to_stored().calibration
    back = LatentQualityModel.from_stored(stored, joint.models, joint.scales)
    assert back.joint_trust
    bad = dataclasses.replace(stored, calibration={**stored.calibration, "trust": "vibes"})
    with pytest.raises(BundleError, match="trust is 'vibes'"):
        LatentQualityModel.from_stored(bad, joint.models, joint.scales)


def test_a_named_source_applies_its_link_and_unknown_ones_are_refused() -> None:
    arrays = tiny_arrays(dim=3, models=2)
    arrays["link_scale"] = np.array([2.0], np.float32)
    arrays["link_shift"] = np.array([-1.0], np.float32)
    model = LatentQualityModel.from_arrays(
        arrays, models=("a", "b"), sources=("judge",), bandwidth=0.1, prior_strength=1.0
    )
    e = np.array([[0.0, 1.0, 0.0]], np.float32)
    z = np.log(model.p_success(e) / (1 - model.p_success(e)))
    z_judge = np.log(model.p_success(e, scale="judge") / (1 - model.p_success(e, scale="judge")))
    np.testing.assert_allclose(z_judge, 2 * z - 1, atol=1e-6)
    with pytest.raises(InvalidInputError, match="unknown quality scale"):
        model.p_success(e, scale="nope")


def test_bad_arrays_are_refused_naming_the_array() -> None:
    arrays = tiny_arrays(dim=3, models=2)
    arrays["prior"] = np.zeros(5, np.float32)
    with pytest.raises(BundleError, match="prior has shape"):
        LatentQualityModel.from_arrays(
            arrays, models=("a", "b"), sources=("s",), bandwidth=0.1, prior_strength=1.0
        )
    arrays = tiny_arrays(dim=3, models=2)
    arrays["ability"] = np.array([np.nan, 0.0], np.float32)
    with pytest.raises(BundleError, match="NaN"):
        LatentQualityModel.from_arrays(
            arrays, models=("a", "b"), sources=("s",), bandwidth=0.1, prior_strength=1.0
        )


def _simulated(seed: int = 0) -> tuple[QualityData, np.ndarray]:  # (data, true abilities)
    """Three models with true abilities -1, 0, 1 and prompt difficulty on axis 0.
    Source 0 grades models 0 and 1 on the plain scale; source 1 is a generous
    judge (logit 2 z + 1.5) that grades models 1 and 2 only."""
    rng = np.random.default_rng(seed)
    n = 3000
    e = rng.normal(size=(n, 4)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    ability = np.array([-1.0, 0.0, 1.0])
    z = ability[None, :] - 1.5 * e[:, :1]
    source = (np.arange(n) % 2).astype(np.int64)
    logit = np.where(source[:, None] == 0, z, 2 * z + 1.5)
    labels = (rng.random((n, 3)) < sigmoid(logit)).astype(np.float32)
    labels[source == 0, 2] = np.nan
    labels[source == 1, 0] = np.nan
    return QualityData(e, labels, source, source), ability


def test_a_model_seen_only_through_a_generous_judge_stays_comparable() -> None:
    data, _ = _simulated()
    config = QualityConfig(hidden=8, epochs=30, centroids=16, link_l2=0.0, seed=0)
    names, sources = ["m0", "m1", "m2"], ["plain", "judge"]
    model, _ = fit_quality_model(data, None, names, sources, [0, 1, 2], config)
    e = data.embeddings[:500]
    z = np.log(model.p_success(e, scale="plain") / (1 - model.p_success(e, scale="plain")))
    gaps = z.mean(0) - z.mean(0)[1]
    # True gaps on the plain scale: -1, 0, +1. Model 2 never had a plain label.
    assert gaps[0] == pytest.approx(-1.0, abs=0.35)
    assert gaps[2] == pytest.approx(1.0, abs=0.35)
    # The judge's own scale is reproduced too.
    p_judge = model.p_success(e, scale="judge")[:, 2].mean()
    assert p_judge > model.p_success(e, scale="plain")[:, 2].mean()


def test_a_deployment_with_few_labels_shares_its_base_models_ability() -> None:
    data, _ = _simulated(seed=1)
    labels = np.concatenate([data.labels, data.labels[:, 2:3]], axis=1)
    labels[20:, 3] = np.nan  # the deployment of model 2 has 20 labels only
    labels[:20, 3] = 0.0  # ... all of them failures (bad luck on a small sample)
    shared = dataclasses.replace(data, labels=labels)
    config = QualityConfig(hidden=8, epochs=30, centroids=16, seed=0, deployment_l2=1.0)
    names = ["m0", "m1", "m2", "m2@host"]
    with_base, _ = fit_quality_model(shared, None, names, ["plain", "judge"], [0, 1, 2, 2], config)
    alone, _ = fit_quality_model(shared, None, names, ["plain", "judge"], [0, 1, 2, 3], config)
    e = data.embeddings[:500]
    assert with_base.p_success(e)[:, 3].mean() > alone.p_success(e)[:, 3].mean() + 0.1


def test_length_model_recovers_per_prompt_and_per_model_lengths() -> None:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(2000, 5)).astype(np.float32)
    true_offset = np.array([0.0, 1.0, -0.5])
    log_len = 5.0 + 0.8 * e[:, :1] + true_offset[None, :] + 0.05 * rng.normal(size=(2000, 3))
    lengths = np.exp(log_len)
    lengths[rng.random((2000, 3)) < 0.5] = np.nan
    weight, bias, offset = fit_lengths(e, lengths, l2=1.0)
    assert weight[0] == pytest.approx(0.8, abs=0.05)
    np.testing.assert_allclose(offset - offset[0], true_offset - true_offset[0], atol=0.05)
    assert bias + offset[0] == pytest.approx(5.0, abs=0.05)


def test_length_offsets_compare_models_on_the_same_prompts() -> None:
    # Model 0 is graded only on "maths" (long worked answers), model 2 only on short
    # factual questions, model 1 on both, writing as long as the others on each. The
    # embedding cannot tell the two kinds apart, so a pooled offset calls model 0
    # verbose and model 2 terse; compared within each dataset they write alike.
    rng = np.random.default_rng(1)
    n = 1000
    dataset = np.repeat([0, 1], n)
    e = rng.normal(size=(2 * n, 4)).astype(np.float32)
    lengths = np.full((2 * n, 3), np.nan)
    typical = np.where(dataset == 0, 800.0, 40.0)
    lengths[dataset == 0, 0] = typical[dataset == 0]
    lengths[:, 1] = typical
    lengths[dataset == 1, 2] = typical[dataset == 1]
    lengths *= np.exp(0.05 * rng.normal(size=lengths.shape))
    _, _, pooled = fit_lengths(e, lengths, l2=1.0)
    _, _, within = fit_lengths(e, lengths, l2=1.0, dataset=dataset)
    assert pooled[0] - pooled[2] > 2.0  # log(800 / 40) = 3: the old, confounded answer
    assert abs(within[0] - within[2]) < 0.1
    assert abs(within[0] - within[1]) < 0.1


def test_irt_prior_ranks_a_model_by_the_models_graded_beside_it() -> None:
    # An easy set grades x and y; a hard set grades y and z. y beats x where both are
    # graded and beats z where both are graded, so y must rank first, although x's raw
    # accuracy (0.93) is far above y's pooled accuracy (0.65) - the mismatch that
    # made a model seen only on GSM8K look better than o1 on MATH level 5.
    rng = np.random.default_rng(0)
    n = 400
    dataset = np.repeat([0, 1], n)
    labels = np.full((2 * n, 3), np.nan, np.float32)
    labels[:n, 0] = rng.random(n) < 0.93
    labels[:n, 1] = rng.random(n) < 0.97
    labels[n:, 1] = rng.random(n) < 0.35
    labels[n:, 2] = rng.random(n) < 0.2
    prior = irt_prior(labels, dataset, l2=0.01, min_labels=20)
    assert np.nanmean(labels[:, 0]) > np.nanmean(labels[:, 1])  # pooled accuracy misleads
    assert prior[1] > prior[0]
    assert prior[1] > prior[2]
    # Too few labels in a cell: the model is left at the average, not at its noise.
    sparse = labels.copy()
    sparse[5:n, 0] = np.nan
    assert irt_prior(sparse, dataset, l2=0.01, min_labels=20)[0] == pytest.approx(
        np.mean(irt_prior(sparse, dataset, l2=0.01, min_labels=20)[1:]), abs=1.5
    )


def _latent_bundle(tmp_path: Path, *, joint: bool = False) -> Path:
    """The tiny test bundle's encoder with a latent quality model in place of its heads
    (with ``joint``: joint trust, and ``ours-8b`` never graded near any prompt)."""
    source = Bundle.load(make_tiny_bundle(tmp_path / "tiny"))
    rng = np.random.default_rng(0)
    m = len(MODELS)
    arrays = tiny_arrays(dim=DIM, models=m, hidden=4, k=2)
    arrays["centroid_counts"] = np.zeros((2, m), np.float32)
    arrays["centroid_counts"][0] = 50.0  # centroid 0 = axis 0 (the "contract" direction)
    if joint:
        arrays["centroid_counts"][:, MODELS.index("ours-8b")] = 0.0
    arrays["prior"] = np.array([0.5, 1.0, 2.0, 0.8], np.float32)
    arrays["ability"] = np.array([-2.0, 0.0, 3.0, -1.0], np.float32)
    arrays["model_vectors"] = np.zeros((m, 4), np.float32)
    arrays["length_offset"] = rng.normal(size=m).astype(np.float32)
    quality = LatentQualityModel.from_arrays(
        arrays,
        models=MODELS,
        sources=("d1",),
        bandwidth=0.05,
        prior_strength=1.0,
        joint_trust=joint,
    )
    manifest = BundleManifest(
        name="latent",
        encoder=EncoderInfo(truncation=Truncation(32, 8), dim=DIM),
    )
    return write_bundle(
        tmp_path / ("latent-joint" if joint else "latent"),
        manifest=manifest,
        quality=quality,
        entries=[ModelEntry(id=model) for model in MODELS],
        encoder_onnx=source.path / "encoder.onnx",
        output_lengths=OutputLengthModel(by_model_task={}, by_model={}, overall=100.0),
        catalog=tiny_catalog(),
        model_card="# latent test bundle\n",
    ).path


def test_centroid_label_sums_over_counts_is_the_local_mean_label_per_model() -> None:
    # Two centroids far apart (bandwidth 0.05: each prompt's kernel sits on its own
    # centroid); model 0 right on 3 of the 4 prompts near centroid 0, model 1 never
    # graded there (NaN) and wrong near centroid 1.
    centroids = np.eye(2, 3, dtype=np.float32)
    embeddings = np.repeat(centroids, [4, 2], axis=0)
    labels = np.array(
        [[1, np.nan], [1, np.nan], [1, np.nan], [0, np.nan], [np.nan, 0], [np.nan, 0]],
        np.float32,
    )
    counts = centroid_counts(embeddings, labels, centroids, bandwidth=0.05)
    sums = centroid_label_sums(embeddings, labels, centroids, bandwidth=0.05)
    np.testing.assert_allclose(counts, [[4, 0], [0, 2]], atol=1e-6)
    np.testing.assert_allclose(sums, [[3, 0], [0, 0]], atol=1e-6)
    assert sums[0, 0] / counts[0, 0] == pytest.approx(0.75)


def test_latent_bundle_round_trip_and_the_router_reports_support(tmp_path: Path) -> None:
    folder = _latent_bundle(tmp_path)
    bundle = Bundle.load(folder)
    assert bundle.manifest.heads.kind == "latent-v2"
    assert isinstance(bundle.quality_model(), LatentQualityModel)
    router = Router.load(folder, catalog=tiny_catalog())
    supported = router.route("review this contract clause", min_quality=0.5)
    unsupported = router.route("hello there", min_quality=0.5)
    assert supported.support is not None
    assert unsupported.support is not None
    assert supported.support > 10 * max(unsupported.support, 1e-9)
    assert supported.support == supported.candidate(supported.model).support
    # Expected answer lengths come from the quality model's per-prompt length model.
    lengths = [c.expected_output_tokens for c in supported.candidates]
    assert len(set(np.round(lengths, 3))) == len(MODELS)


def test_a_joint_trust_bundle_compares_each_requests_candidates(tmp_path: Path) -> None:
    """The Router predicts for the request's candidates in one call, so a joint-trust
    bundle falls back to the priors only when an unsupported model is a candidate."""
    prompt, three = "review this contract clause", ["small", "mid", "frontier"]
    joint = Router.load(_latent_bundle(tmp_path, joint=True), catalog=tiny_catalog())
    per_model = Router.load(_latent_bundle(tmp_path), catalog=tiny_catalog())

    def p(router: Router, candidates: list[str]) -> float:
        decision = router.route(prompt, min_quality=0.5, candidates=candidates)
        return decision.candidate("frontier").p_success

    prior = float(sigmoid(np.array([2.0]))[0])  # frontier's prior
    assert abs(p(per_model, three) - prior) > 0.01  # the prompt is well supported
    assert p(joint, three) == pytest.approx(p(per_model, three), abs=1e-9)
    assert p(joint, list(MODELS)) == pytest.approx(prior, abs=1e-3)  # ours-8b: no support
    assert p(per_model, list(MODELS)) == pytest.approx(p(per_model, three), abs=1e-9)


def test_the_model_card_scores_each_dataset_over_its_own_models() -> None:
    """Test metrics predict each dataset's rows over the models graded there: with
    joint trust, predicting all of the bundle's models at once would hold a supported
    model at its prior because some other model was never graded near the prompt."""
    from training.dataset import SplitArrays
    from training.train import p_on_own_scale

    model = dataclasses.replace(tiny(prior_strength=0.01), joint_trust=True)
    near = np.array([[1.0, 0.0, 0.0]] * 2, np.float32)  # m0 graded here, m1 never
    labels = np.array([[1.0, np.nan], [0.0, np.nan]], np.float32)  # a set grading m0 only
    part = SplitArrays(
        texts=["a", "b"],
        keys=[("d", "a"), ("d", "b")],
        datasets=["d", "d"],
        tasks=[None, None],
        labels=labels,
        scale_index=np.zeros(2, np.int64),
        dataset_index=np.zeros(2, np.int64),
        cost_usd=np.full((2, 2), np.nan),
        output_tokens=np.full((2, 2), np.nan),
    )
    for canonical in (False, True):
        p = p_on_own_scale(model, part, near, ["s"], canonical=canonical)
        expected = model.p_success(near, models=["m0"], scale=None if canonical else "s")
        np.testing.assert_allclose(p[:, 0], expected[:, 0], rtol=1e-9)
        assert np.isnan(p[:, 1]).all()
        assert abs(p[0, 0] - model.p_success(near)[0, 0]) > 0.01  # not the prior


def test_support_of_any_subset_or_order_of_models_is_the_full_tables_columns() -> None:
    """``support`` skips the column copy when asked for every model in order; any
    other selection must still read each model's own counts."""
    arrays = tiny_arrays(dim=4, models=3, k=5)
    arrays["centroid_counts"] = np.arange(15, dtype=np.float32).reshape(5, 3)
    model = LatentQualityModel.from_arrays(
        arrays, models=("a", "b", "c"), sources=("s",), bandwidth=0.2, prior_strength=1.0
    )
    e = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    full = model.predict(e).support
    assert full is not None
    np.testing.assert_allclose(full, model.kernel(e) @ arrays["centroid_counts"], rtol=1e-6)
    for names in (("c", "a", "b"), ("b",), ("a", "b", "c")):
        cols = model.columns(names)
        np.testing.assert_allclose(model.predict(e, models=names).support, full[:, cols])
