"""``make demo``: route example enterprise prompts with the shipped model.

Each prompt goes to the cheapest of today's models (GPT-4o and 4o-mini, Claude
3.5 Sonnet and Haiku, Llama 3.1, Qwen 2.5, DeepSeek V3, Gemini, o3-mini) whose
predicted P(success) clears the bar; the table shows what that costs against
sending everything to the frontier model (Claude 3.5 Sonnet), and each
decision's support (labelled training prompts near this one: about 0 for
hand-written prompts unlike the training sets, where the router falls back to
each model's overall record, the best fixed choice at the bar).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from learned_router.router import RouteDecision, Router

FRONTIER = "claude-3-5-sonnet-20241022"
CANDIDATES = (
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "o3-mini-2025-01-31(medium)",
    "gemini-1.5-flash-002",
    "gemini-1.5-pro-002",
    "deepseek-v3",
    "llama-3.1-8b-instruct",
    "llama-3.1-70b-instruct",
    "qwen2.5-7b-instruct",
    "qwen2.5-72b-instruct",
)
PROMPTS = (
    "Convert this date to ISO 8601: 3rd of March 2024.",
    "Format these names as a JSON list: Alice Smith, Bob Jones, Carol White.",
    "Fix the grammar: 'Me and him has went to the meeting yesterday.'",
    "Summarize in two sentences: Our Q3 revenue grew 12% while support tickets fell 8% "
    "after the new onboarding flow launched in July.",
    "Write a Python function that returns the n-th Fibonacci number using memoization.",
    "Which is heavier, a kilogram of feathers or a kilogram of steel? Answer A) feathers "
    "B) steel C) neither.",
    "A train leaves at 14:10 and travels 210 km at 84 km/h. When does it arrive? Show the steps.",
    "Analyze the indemnification clause below and list the risks for the supplier: 'The "
    "Supplier shall indemnify and hold harmless the Customer against all losses, including "
    "indirect and consequential losses, arising from any breach of this Agreement.'",
    "Prove that the square root of 2 is irrational.",
    "Draft a data processing agreement clause that complies with GDPR Article 28 for a "
    "subprocessor located outside the EU.",
)


def decision_table(decision: RouteDecision, *, limit: int = 12) -> Table:
    """Every candidate's estimates for one decision, cheapest first."""
    table = Table(title=f"Candidates ({decision.policy} {decision.policy_value:g})")
    for column in ("model", "P(success)", "cost USD", "latency ms", "excluded"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for c in sorted(decision.candidates, key=lambda c: c.expected_cost_usd)[:limit]:
        mark = "[bold green]" if c.model == decision.model else ""
        table.add_row(
            f"{mark}{c.model}",
            f"{c.p_success:.3f}",
            f"{c.expected_cost_usd:.6f}",
            f"{c.expected_latency_ms:.0f}",
            c.excluded_by or "",
        )
    return table


def run_demo(min_quality: float = 0.8, bundle: str | None = None) -> None:
    """Routes :data:`PROMPTS` and prints the decisions and the saving."""
    console = Console()
    router = Router.load(bundle, capacity=False)
    candidates = [m for m in CANDIDATES if m in router.models]
    decisions = router.route_batch(list(PROMPTS), min_quality=min_quality, candidates=candidates)
    table = Table(title=f"Cheapest model with predicted P(success) >= {min_quality}")
    for column in ("prompt", "model", "P(success)", "support", "cost USD", f"{FRONTIER} USD"):
        table.add_column(column, overflow="fold")
    routed = frontier = 0.0
    for prompt, decision in zip(PROMPTS, decisions, strict=True):
        gpt4 = decision.candidate(FRONTIER).expected_cost_usd
        routed += decision.expected_cost_usd
        frontier += gpt4
        table.add_row(
            prompt[:60] + ("..." if len(prompt) > 60 else ""),
            decision.model,
            f"{decision.p_success:.2f}",
            f"{decision.support or 0.0:.1f}",
            f"{decision.expected_cost_usd:.6f}",
            f"{gpt4:.6f}",
        )
    console.print(table)
    console.print(
        f"Routed: {routed:.6f} USD; everything to {FRONTIER}: {frontier:.6f} USD "
        f"({100 * (1 - routed / frontier):.0f}% saved). Bundle {router.version}, "
        f"prices {decisions[0].price_version}. P(success) is the shipped model's prediction; "
        "costs are catalog list prices x token estimates."
    )
