"""Deterministic train/validation/test splits by prompt, never by row.

Prompts are grouped by their normalised text (case and whitespace folded), so
the same question under two ids, or in two datasets, always lands in one
split. Groups are stratified by dataset and task: within each stratum they are
ordered by a seeded hash and cut at the requested fractions. The same log and
seed always give the same split, and a prompt keeps its split when others are
added to its stratum's tail of the hash order only rarely moves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from learned_router.data.log import OutcomeLog, PromptKey
from learned_router.errors import InvalidInputError

DEFAULT_FRACTIONS: Mapping[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
_SPACE = re.compile(r"\s+")


def prompt_group(text: str) -> str:
    """The grouping key of a prompt: a hash of its case- and space-folded text."""
    folded = _SPACE.sub(" ", text).strip().lower()
    return hashlib.blake2b(folded.encode(), digest_size=12).hexdigest()


def outside(datasets: Sequence[str], groups: Sequence[str], held_out: str) -> list[bool]:
    """Which rows a model trained without ``held_out`` may see: rows of other
    datasets whose prompt group (:func:`prompt_group`) does not occur in it (the
    same GSM8K or MATH question sits in several public sets).

    >>> outside(["a", "b", "b"], ["g1", "g1", "g2"], "a")
    [False, False, True]
    """
    held = {g for g, d in zip(groups, datasets, strict=True) if d == held_out}
    return [d != held_out and g not in held for g, d in zip(groups, datasets, strict=True)]


def _rank(seed: int, group: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Splits n items into counts proportional to fractions (largest remainder)."""
    raw = [n * f for f in fractions]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class Splits:
    """Which split every prompt is in, and how that was decided."""

    assignment: Mapping[PromptKey, str]
    seed: int
    fractions: Mapping[str, float]
    stratify_by: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fractions)

    def keys(self, name: str) -> list[PromptKey]:
        """The prompts of one split."""
        if name not in self.fractions:
            raise InvalidInputError(
                f"unknown split {name!r}; the splits are {list(self.fractions)}"
            )
        return [key for key, split in self.assignment.items() if split == name]

    def log(self, log: OutcomeLog, name: str) -> OutcomeLog:
        """The part of ``log`` in split ``name``."""
        return log.subset(self.keys(name))

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.fractions, 0)
        for split in self.assignment.values():
            counts[split] += 1
        return counts

    def params(self) -> dict[str, Any]:
        """What to record with a run (MLflow params) to reproduce the split."""
        return {
            "split_seed": self.seed,
            "split_fractions": ",".join(f"{k}={v:g}" for k, v in self.fractions.items()),
            "split_stratify_by": ",".join(self.stratify_by),
            "split_group_by": "normalised prompt text",
            **{f"split_{k}_prompts": v for k, v in self.counts().items()},
        }


def split_prompts(
    log: OutcomeLog,
    *,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    stratify_by: Sequence[str] = ("dataset", "task"),
) -> Splits:
    """Splits a log's prompts into named parts.

    >>> from learned_router.data.log import OutcomeLog
    >>> import pyarrow as pa
    >>> prompts = pa.table({"dataset": ["d"] * 4, "prompt_id": list("abcd"),
    ...                     "prompt": ["q1", "q2", "Q1 ", "q3"], "task": [None] * 4})
    >>> outcomes = pa.table({"dataset": ["d"], "prompt_id": ["a"], "model": ["m"],
    ...                      "quality": [1.0]})
    >>> s = split_prompts(OutcomeLog(prompts, outcomes), fractions={"train": 0.5, "test": 0.5})
    >>> s.assignment[("d", "a")] == s.assignment[("d", "c")]  # same text, same split
    True
    """
    if not fractions or any(f < 0 for f in fractions.values()):
        raise InvalidInputError(f"fractions must be non-negative, got {dict(fractions)}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-9:
        raise InvalidInputError(f"fractions must sum to 1, got {total:g} from {dict(fractions)}")
    unknown = set(stratify_by) - {"dataset", "task"}
    if unknown:
        raise InvalidInputError(f"stratify_by may name 'dataset' and 'task', got {sorted(unknown)}")

    prompts = log.prompts
    keys = log.prompt_keys()
    texts = prompts.column("prompt").to_pylist()
    tasks = prompts.column("task").to_pylist()
    members: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        members.setdefault(prompt_group(text), []).append(i)

    strata: dict[tuple[str, ...], list[str]] = {}
    for group, rows in members.items():
        first = min(rows, key=lambda i: keys[i])
        values = {"dataset": keys[first][0], "task": tasks[first] or ""}
        strata.setdefault(tuple(values[s] for s in stratify_by), []).append(group)

    names = list(fractions)
    assignment: dict[PromptKey, str] = {}
    for stratum in sorted(strata):
        groups = sorted(strata[stratum], key=lambda g: (_rank(seed, g), g))
        counts = _allocate(len(groups), [fractions[name] for name in names])
        position = 0
        for name, count in zip(names, counts, strict=True):
            for group in groups[position : position + count]:
                for i in members[group]:
                    assignment[keys[i]] = name
            position += count
    return Splits(
        assignment=assignment,
        seed=seed,
        fractions=dict(fractions),
        stratify_by=tuple(stratify_by),
    )


def check_no_leakage(log: OutcomeLog, splits: Splits) -> None:
    """Raises if one prompt text sits in two splits (or a prompt has no split)."""
    seen: dict[str, str] = {}
    for key, text in zip(log.prompt_keys(), log.prompts.column("prompt").to_pylist(), strict=True):
        split = splits.assignment.get(key)
        if split is None:
            raise InvalidInputError(f"prompt {key} has no split; re-split after loading new data")
        group = prompt_group(text)
        if seen.setdefault(group, split) != split:
            raise InvalidInputError(
                f"leak: the text of prompt {key} is in both {seen[group]!r} and {split!r}"
            )
