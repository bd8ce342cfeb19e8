"""The learning loop: shadow checks against a golden model, drift alarms,
immediate re-scoring, and per-tenant adaptation (``docs/drift.md``).

- :class:`ShadowSampler` chooses the requests also sent to the golden model;
- :func:`agreement` compares two answers;
- :class:`DriftMonitor` runs calibrated Page-Hinkley detectors per model and
  signal, raises :class:`DriftAlert`\\ s, and re-scores drifting models through
  :class:`Corrections`, the object ``Router(corrections=...)`` consults;
- :class:`InputDriftWatch` tests whether traffic still resembles the training
  prompts (against the bundle's :class:`InputReference`);
- :mod:`learned_router.drift.replay` streams a logged dataset through a router
  to measure all of it (``learned-router replay``).

The retraining an alert triggers lives on the training side
(``training/retrain.py``): the runtime never imports torch.
"""

from learned_router.drift.alerts import DriftAlert, log_sink, mlflow_sink, webhook_sink
from learned_router.drift.corrections import Corrections, CorrectionsFileError
from learned_router.drift.detectors import DetectorSettings, calibrate_threshold
from learned_router.drift.explore import Explorer
from learned_router.drift.inputs import InputDriftWatch, InputReference
from learned_router.drift.monitor import DriftMonitor
from learned_router.drift.sampling import ShadowSampler
from learned_router.drift.signals import AgreementPolicy, agreement

__all__ = [
    "AgreementPolicy",
    "Corrections",
    "CorrectionsFileError",
    "DetectorSettings",
    "DriftAlert",
    "DriftMonitor",
    "Explorer",
    "InputDriftWatch",
    "InputReference",
    "ShadowSampler",
    "agreement",
    "calibrate_threshold",
    "log_sink",
    "mlflow_sink",
    "webhook_sink",
]
