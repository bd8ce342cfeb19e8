"""``make demo``: route example prompts and show what it saves.

Until a trained model ships (training issue), the success probabilities here
are an illustrative table, not predictions; the prices are list prices. What
is real: the Rust selection kernel choosing under each policy.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from learned_router.selection import Outcome, select_models

# Illustrative list prices, USD per 1M tokens (input, output).
_MODELS = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "mixtral-8x7b": (0.6, 0.6),
    "mistral-7b": (0.2, 0.2),
}
# (prompt, input tokens, output tokens, illustrative p_success per model)
_PROMPTS = [
    ("Convert this date to ISO format: March 3rd 2024", 15, 10, (0.99, 0.97, 0.93)),
    ("Summarise this paragraph in one sentence: ...", 300, 40, (0.97, 0.92, 0.85)),
    ("Write a Python function that merges two sorted lists", 12, 150, (0.95, 0.85, 0.70)),
    ("Analyse the indemnification clause of this contract ...", 2500, 600, (0.90, 0.62, 0.41)),
]


def run_demo(min_quality: float = 0.9) -> None:
    """Print each example prompt's choice and the saving against the frontier model."""
    console = Console()
    console.print(
        "[bold yellow]Note:[/] no trained router ships yet, so p_success below is an "
        "illustrative table, not a prediction. The choice is made by the real Rust kernel."
    )
    prices = np.array(list(_MODELS.values()))
    tokens = np.array([(t_in, t_out) for _, t_in, t_out, _ in _PROMPTS], dtype=np.float64)
    cost = tokens @ prices.T / 1e6  # [n_prompts, n_models] USD
    p = np.array([row[3] for row in _PROMPTS])
    names = list(_MODELS)
    sel = select_models(p, cost, min_quality=min_quality)

    table = Table(title=f"Cheapest model with P(success) >= {min_quality}")
    for column in ("prompt", "model", "P(success)", "cost USD", "frontier USD", "decided by"):
        table.add_column(column)
    for i, (prompt, *_rest) in enumerate(_PROMPTS):
        table.add_row(
            prompt[:48],
            names[sel.index[i]],
            f"{sel.p_success[i]:.2f}",
            f"{sel.cost_usd[i]:.6f}",
            f"{cost[i, 0]:.6f}",
            Outcome(int(sel.outcome[i])).name.lower(),
        )
    console.print(table)
    routed, frontier = float(sel.cost_usd.sum()), float(cost[:, 0].sum())
    console.print(
        f"Total {routed:.6f} USD against {frontier:.6f} USD for the frontier model: "
        f"{100 * (1 - routed / frontier):.1f}% saved."
    )
