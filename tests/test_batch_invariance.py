"""The same prompt gets the same embedding and P(success) alone and in any
batch, on the shipped bundle (its int8 encoder is where batch mates used to
leak in through dynamic activation scales)."""

from __future__ import annotations

import numpy as np
import pytest

from learned_router import Router
from learned_router.bundle import DEFAULT_BUNDLE, Bundle

PROMPTS = [
    "What is 17 * 23? Answer with the number only.",
    "Write a Python function that returns the n-th Fibonacci number, with memoisation.",
    "Summarise the causes of the French Revolution in three sentences.",
    "Translate 'good morning' into German.",
    "Prove that the square root of 2 is irrational. " * 20,
    "hi",
    "Question: Which gas do plants absorb? A) oxygen B) carbon dioxide C) helium D) neon",
    "x" * 3000,
]


@pytest.fixture(scope="module")
def shipped() -> Bundle:
    return Bundle.load(DEFAULT_BUNDLE)


def test_embedding_alone_equals_embedding_in_any_batch(shipped: Bundle) -> None:
    encoder = shipped.encoder(threads=1)
    alone = np.concatenate([encoder.embed([p]) for p in PROMPTS])
    together = encoder.embed(PROMPTS)
    shuffled_order = np.random.default_rng(0).permutation(len(PROMPTS))
    shuffled = encoder.embed([PROMPTS[i] for i in shuffled_order])
    assert np.abs(alone - together).max() <= 1e-6
    assert np.abs(alone[shuffled_order] - shuffled).max() <= 1e-6


def test_route_batch_gives_each_prompt_what_route_gives_it() -> None:
    router = Router.load(DEFAULT_BUNDLE)
    batch = router.route_batch(PROMPTS * 3, min_quality=0.7)
    for prompt, decision in zip(PROMPTS * 3, batch, strict=True):
        single = router.route(prompt, min_quality=0.7)
        assert decision.model == single.model
        np.testing.assert_allclose(
            [c.p_success for c in decision.candidates],
            [c.p_success for c in single.candidates],
            atol=1e-6,
        )


def test_a_router_over_a_few_models_predicts_what_the_bundle_predicts_for_them(
    shipped: Bundle,
) -> None:
    # route() asks the quality model for the request's candidates only (not all of
    # the bundle's models: with joint trust, the models asked for together are
    # compared with each other); each candidate must still get its own column.
    models = ["qwen2.5-7b-instruct", "gpt-4-1106-preview", "mistralai/mistral-7b-chat"]
    router = Router.load(DEFAULT_BUNDLE, models=models, capacity=False, threads=1)
    everything = shipped.quality_model()
    heads = [router._head_of[m] for m in router.models]
    for prompt in PROMPTS:
        # The reference also predicts one prompt at a time: the support kernel
        # (bandwidth 0.05) magnifies float32 matmul rounding, which differs
        # between a batch of one and a batch of eight by ~1e-6 of the support.
        full = everything.predict(
            router.encoder.embed([prompt]), models=heads, scale=router.quality_scale
        )
        assert full.support is not None
        assert full.output_tokens is not None
        decision = router.route(prompt, cost_weight=0.0)
        assert {c.model for c in decision.candidates} == set(router.models)  # canonical ids
        for c in decision.candidates:
            j = heads.index(router._head_of[c.model])
            assert c.p_success == pytest.approx(full.p_success[0, j], abs=1e-9)
            assert c.support == pytest.approx(full.support[0, j], rel=1e-9)
            assert c.expected_output_tokens == pytest.approx(full.output_tokens[0, j], rel=1e-9)
