"""The MLflow model registry: find bundles by alias, record promotion decisions.

Registered versions are pyfunc models (``learned_router.mlflow_pyfunc``)
whose ``bundle`` artifact is a verified model bundle. MLflow is imported only
here, when needed: it is part of the ``train`` extra, not the runtime.

Tracking store: ``$MLFLOW_TRACKING_URI`` if set, else an embedded sqlite file
``mlflow.db`` in the working directory (no server).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from learned_router.errors import BundleError, LearnedRouterError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_MODEL_NAME = "learned-router"
CHAMPION = "champion"


def mlflow_module() -> Any:
    """mlflow, imported with its telemetry off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    try:
        import mlflow
    except ImportError as error:
        raise LearnedRouterError(
            "this needs MLflow: pip install 'learned-router[train]' (or pip install mlflow)"
        ) from error
    return mlflow


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def client() -> Any:
    mlflow = mlflow_module()
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient()


def download_bundle(uri: str, *, dst: str | os.PathLike[str] | None = None) -> Path:
    """The bundle folder of a registered model.

    ``uri`` is ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
    """
    if not os.environ.get("MLFLOW_TRACKING_URI") and not Path("mlflow.db").is_file():
        # Opening the default sqlite store would create ./mlflow.db: refuse instead.
        raise BundleError(
            f"{uri}: no MLflow registry: $MLFLOW_TRACKING_URI is not set and there is no "
            "./mlflow.db. Point MLFLOW_TRACKING_URI at the registry that holds the model."
        )
    mlflow = mlflow_module()
    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=None if dst is None else str(dst)
            )
        )
    except Exception as error:  # MLflow raises several unrelated exception types
        raise BundleError(
            f"{uri}: cannot download from the MLflow registry at {tracking_uri()}: {error}"
        ) from error
    # The pyfunc model keeps its "bundle" artifact under artifacts/<the folder's
    # original name>; MLmodel records which.
    candidates = [local, local / "bundle", local / "artifacts" / "bundle"]
    mlmodel = local / "MLmodel"
    if mlmodel.is_file():
        for line in mlmodel.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("path: artifacts/"):
                candidates.insert(0, local / stripped.removeprefix("path: "))
    if (local / "artifacts").is_dir():
        candidates += sorted(p for p in (local / "artifacts").iterdir() if p.is_dir())
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BundleError(f"{uri}: the registered model has no bundle artifact (looked in {local})")
