"""The MLflow pyfunc flavour of a learned-router bundle ("models from code").

MLflow runs this file when it loads a registered version::

    model = mlflow.pyfunc.load_model("models:/learned-router@champion")
    model.predict(pd.DataFrame({"prompt": ["Summarise this memo ..."]}),
                  params={"min_quality": 0.8})

The result has one row per prompt: ``chosen_model``, ``p_success``,
``expected_cost_usd``, ``tier``, and a ``p_success:<model>`` column per model.
Never imported by ``import learned_router``.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from learned_router.router import Router

ROUTE_PARAMS = ("min_quality", "max_cost_usd", "cost_weight", "quality_fraction", "max_latency_ms")


class LearnedRouterModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def load_context(self, context: Any) -> None:
        self.router = Router.load(context.artifacts["bundle"], capacity=False)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, float] | None = None
    ) -> pd.DataFrame:
        if "prompt" not in model_input.columns:
            raise ValueError("the input DataFrame needs a 'prompt' column")
        prompts = [str(p) for p in model_input["prompt"].tolist()]
        options = {
            k: float(v) for k, v in (params or {}).items() if k in ROUTE_PARAMS and v is not None
        }
        decisions = self.router.route_batch(
            prompts,
            min_quality=options.get("min_quality"),
            max_cost_usd=options.get("max_cost_usd"),
            cost_weight=options.get("cost_weight"),
            quality_fraction=options.get("quality_fraction"),
            max_latency_ms=options.get("max_latency_ms"),
        )
        rows = []
        for decision in decisions:
            row: dict[str, Any] = {
                "chosen_model": decision.model,
                "p_success": decision.p_success,
                "expected_cost_usd": decision.expected_cost_usd,
                "tier": decision.tier,
            }
            row.update({f"p_success:{c.model}": c.p_success for c in decision.candidates})
            rows.append(row)
        return pd.DataFrame(rows)


mlflow.models.set_model(LearnedRouterModel())
