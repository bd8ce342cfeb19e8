"""MLflow tracking for training runs: config, data, losses, metrics, plots,
the bundle as an artifact, and a registered pyfunc model version.

Default store: an embedded sqlite file (``mlflow.db``, no server); set
``MLFLOW_TRACKING_URI`` (or ``[tracking] tracking_uri``) for a remote server.
A run interrupted by an exception or Ctrl-C is ended as FAILED/KILLED by
MLflow's context manager; the sqlite store is transactional, so it stays
readable and the next run starts cleanly.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learned_router.registry import mlflow_module, tracking_uri
from training.config import TrackingConfig

ROUTE_PARAMS = ("min_quality", "max_cost_usd", "cost_weight", "quality_fraction", "max_latency_ms")


def pyfunc_code() -> Path:
    """The pyfunc model file (MLflow "models from code"); found, not imported:
    importing it would register a model object in this process."""
    spec = importlib.util.find_spec("learned_router.mlflow_pyfunc")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Tracker:
    """A thin layer over an MLflow run that does nothing when tracking is off."""

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self.enabled = config.enabled
        self.run_id: str | None = None
        self._mlflow: Any = None
        self._run: Any = None

    def __enter__(self) -> Tracker:
        if not self.enabled:
            return self
        if self.config.tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = self.config.tracking_uri
        mlflow = mlflow_module()
        uri = tracking_uri()
        mlflow.set_tracking_uri(uri)
        if mlflow.get_experiment_by_name(self.config.experiment) is None and uri.startswith(
            "sqlite:///"
        ):
            # Keep artifacts beside the sqlite file rather than in ./mlruns of
            # whatever directory the run started in.
            store = Path(uri.removeprefix("sqlite:///")).resolve()
            mlflow.create_experiment(
                self.config.experiment, artifact_location=(store.parent / "mlartifacts").as_uri()
            )
        mlflow.set_experiment(self.config.experiment)
        self._mlflow = mlflow
        self._run = mlflow.start_run()
        self.run_id = self._run.info.run_id
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if self._run is not None:
            status = (
                "FINISHED"
                if kind is None
                else ("KILLED" if kind is KeyboardInterrupt else "FAILED")
            )
            self._mlflow.end_run(status=status)

    def params(self, values: Mapping[str, Any]) -> None:
        if self.enabled:
            # MLflow params are strings of at most 6000 characters.
            self._mlflow.log_params({k: str(v)[:6000] for k, v in values.items()})

    def metrics(self, values: Mapping[str, float], *, step: int | None = None) -> None:
        if self.enabled:
            clean = {k: float(v) for k, v in values.items() if _clean(v) is not None}
            self._mlflow.log_metrics(clean, step=step)

    def tags(self, values: Mapping[str, Any]) -> None:
        if self.enabled:
            self._mlflow.set_tags({k: str(v) for k, v in values.items()})

    def json(self, name: str, payload: Any) -> None:
        if self.enabled:
            self._mlflow.log_dict(json.loads(json.dumps(payload, default=str)), name)

    def figure(self, figure: Any, name: str) -> None:
        if self.enabled:
            self._mlflow.log_figure(figure, name)

    def artifacts(self, folder: Path, path: str) -> None:
        if self.enabled:
            self._mlflow.log_artifacts(str(folder), artifact_path=path)

    def register(self, bundle: Path, *, example_prompt: str) -> str | None:
        """Logs the bundle as a pyfunc model and registers a new version; returns it."""
        if not self.enabled:
            return None
        import pandas as pd
        from mlflow.models import ModelSignature
        from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

        signature = ModelSignature(
            inputs=Schema([ColSpec("string", "prompt")]),
            params=ParamSchema(
                [
                    ParamSpec(name, "double", None)
                    for name in (
                        "min_quality",
                        "max_cost_usd",
                        "cost_weight",
                        "quality_fraction",
                        "max_latency_ms",
                    )
                ]
            ),
        )
        with warnings.catch_warnings():
            # MLflow 3 with pandas 3 warns from its own internals (deprecated
            # pandas operations, advisory notes on type hints); nothing here is
            # ours to act on, and strict test runs turn warnings into errors.
            warnings.simplefilter("ignore")
            info = self._log_model(bundle, signature, pd.DataFrame({"prompt": [example_prompt]}))
        version = getattr(info, "registered_model_version", None)
        return None if version is None else str(version)

    def _log_model(self, bundle: Path, signature: Any, example: Any) -> Any:
        return self._mlflow.pyfunc.log_model(
            name="router",
            python_model=str(pyfunc_code()),
            artifacts={"bundle": str(bundle)},
            registered_model_name=self.config.registered_model,
            signature=signature,
            # MLflow loads the model and predicts on the example: a smoke test
            # of the registered artifact before anyone depends on it.
            input_example=example,
            pip_requirements=["learned-router", "mlflow", "pandas"],
        )


def temporary_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="learned-router-"))
