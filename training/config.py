"""Training configuration: a small TOML file, one comment per knob
(``training/configs/default.toml`` documents every field)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learned_router.errors import InvalidInputError
from training.heads import HeadConfig
from training.quality_model import QualityConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class DataConfig:
    paths: tuple[str, ...] = ()
    catalog: str | None = None
    rejects: str | None = None
    split_seed: int = 0
    fractions: dict[str, float] = field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1}
    )
    max_prompts_per_dataset: int = 0


@dataclass(frozen=True)
class EncoderConfig:
    student_layers: tuple[int, ...] = (0, 1)
    max_tokens: int = 128
    head_tokens: int = 32
    distill_epochs: int = 0
    distill_batch_size: int = 32
    distill_learning_rate: float = 1e-4
    distill_max_prompts: int = 0
    projection_prompts: int = 8000
    int8: bool = True
    parity_max_abs_diff: float = 0.08
    parity_max_auc_drop: float = 0.01
    compare_teacher: bool = True
    reuse_from: str = ""


@dataclass(frozen=True)
class OutputConfig:
    bundle_dir: str = "models/candidate"
    cache_dir: str = ".cache"
    max_bundle_mb: float = 25.0


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "learned-router"
    registered_model: str = "learned-router"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    heads: HeadConfig = field(default_factory=HeadConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """``section.knob`` -> value, for MLflow params."""
        out: dict[str, Any] = {"seed": self.seed}
        for section, values in self.to_dict().items():
            if isinstance(values, dict):
                for key, value in values.items():
                    out[f"{section}.{key}"] = value
        return out


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "encoder": EncoderConfig,
    "heads": HeadConfig,
    "quality": QualityConfig,
    "output": OutputConfig,
    "tracking": TrackingConfig,
}


def _section(name: str, cls: type, raw: Any, source: str) -> Any:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{source}: [{name}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise InvalidInputError(
                f"{source}: unknown knob {name}.{key}; known: {', '.join(sorted(known))}"
            )
    values = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[key] = value
    return cls(**values)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Reads a config TOML (missing knobs keep their defaults).

    ``overrides`` use dotted names, e.g. ``load_config(p, **{"data.paths": [...]})``.
    """
    raw: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as error:
            raise InvalidInputError(f"{path}: no such config file") from error
        except tomllib.TOMLDecodeError as error:
            raise InvalidInputError(f"{path}: not valid TOML: {error}") from error
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not key:
            raw[section] = value
        else:
            raw.setdefault(section, {})[key] = value
    unknown = set(raw) - set(_SECTIONS) - {"seed"}
    if unknown:
        raise InvalidInputError(f"{source}: unknown section(s) {sorted(unknown)}")
    sections = {
        name: _section(name, cls, raw.get(name, {}), source) for name, cls in _SECTIONS.items()
    }
    return TrainConfig(seed=int(raw.get("seed", 0)), **sections)
