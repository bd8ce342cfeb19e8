"""Agreement between the routed answer and the golden answer."""

from __future__ import annotations

import pytest

from learned_router.cache import HashingEmbedder
from learned_router.drift.signals import AgreementPolicy, agreement, final_answer, normalise
from learned_router.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Adding up, we get 12. #### 12", "12"),
        ("So the result is \\boxed{\\frac{1}{2}} indeed", "\\frac{1}{2}"),
        ("Let me think. The answer is (C).", "C"),
        ("Paris", "Paris"),
    ],
)
def test_final_answers_are_pulled_out(text: str, answer: str) -> None:
    assert final_answer(text) == answer


@pytest.mark.parametrize(
    ("routed", "golden", "agree"),
    [
        ("The answer is 42.", "#### 42", 1.0),
        ("42.0", "42", 1.0),
        ("The Eiffel Tower", "eiffel tower!", 1.0),
        ("B", "C", 0.0),
        ("1,000", "1000", 1.0),
        ("41", "42", 0.0),
    ],
)
def test_short_answers_agree_by_normalised_exact_match(
    routed: str, golden: str, agree: float
) -> None:
    assert agreement(routed, golden) == (agree, "exact")


def test_normalise_is_idempotent() -> None:
    for text in ["  The Answer: 42.0! ", "An apple, a day", "x-ray 3.50"]:
        assert normalise(normalise(text)) == normalise(text)


LONG_A = (
    "To reset your password open the account settings page, choose security, then click "
    "reset password and follow the link that arrives by email within a few minutes."
)
LONG_A2 = LONG_A.replace("within a few minutes", "within a couple of minutes")
LONG_B = (
    "Photosynthesis converts light energy into chemical energy stored in glucose; it takes "
    "place in the chloroplasts of plant cells and releases oxygen as a by-product."
)


def test_long_answers_agree_by_embedding_similarity() -> None:
    embed = HashingEmbedder(dim=512)
    policy = AgreementPolicy(short_chars=64, similarity_threshold=0.8)
    assert agreement(LONG_A, LONG_A2, embed=embed, policy=policy) == (1.0, "embedding")
    assert agreement(LONG_A, LONG_B, embed=embed, policy=policy) == (0.0, "embedding")
    # Without an embedder, long answers fall back to exact match.
    assert agreement(LONG_A, LONG_A2)[1] == "exact"


def test_a_judge_decides_when_given() -> None:
    calls: list[tuple[str, str, str]] = []

    def judge(prompt: str, routed: str, golden: str) -> float:
        calls.append((prompt, routed, golden))
        return 0.75

    assert agreement("x", "y", prompt="q", judge=judge) == (0.75, "judge")
    assert calls == [("q", "x", "y")]
    with pytest.raises(InvalidInputError, match="judge returned 2"):
        agreement("x", "y", judge=lambda *_: 2.0)
