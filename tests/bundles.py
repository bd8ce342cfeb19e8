"""Tiny model bundles that tests build themselves (no torch, no download).

The encoder is a real ONNX graph, written with ``onnx.helper``: a token
embedding table, masked mean pooling and L2 normalisation, with the same
inputs and output as a trained student. The heads are small random arrays,
with one deliberate signal: prompts containing "contract" look hard (the
frontier model's advantage grows), so tests can tell the router reads the
prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learned_router.bundle import write_manifest
from learned_router.catalog import Catalog
from learned_router.tokens import TOKENIZER_PATH, OutputLengthModel, load_tokenizer

MODELS = ("small", "mid", "frontier", "ours-8b")
DIM = 8


def tiny_catalog(version: str = "test.1") -> Catalog:
    def api(name: str, usd_in: float, usd_out: float, ttft: float, tps: float) -> dict[str, Any]:
        return {
            "id": name,
            "provider": "acme",
            "usd_per_1m_input": usd_in,
            "usd_per_1m_output": usd_out,
            "usd_per_1m_cached_input": usd_in / 2,
            "batch_discount": 0.5,
            "latency": {"ttft_ms": ttft, "output_tokens_per_s": tps},
        }

    return Catalog.from_dict(
        {
            "version": version,
            "model": [
                api("small", 0.2, 0.2, 100.0, 200.0),
                api("mid", 1.0, 2.0, 300.0, 100.0),
                api("frontier", 10.0, 30.0, 800.0, 30.0),
                {
                    "id": "ours-8b",
                    "provider": "us",
                    "self_hosted": True,
                    "latency": {"ttft_ms": 150.0, "output_tokens_per_s": 90.0},
                    "hosting": {
                        "hardware_usd_per_hour": 2.0,
                        "power_kw": 0.7,
                        "usd_per_kwh": 0.15,
                        "utilisation": 0.5,
                        "input_tokens_per_s": 20000.0,
                        "output_tokens_per_s": 1000.0,
                        "max_concurrent_requests": 2,
                    },
                },
            ],
        }
    )


def _encoder_onnx(path: Path, vocab: int, table: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),  # [b, s, d]
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),  # [b, s, 1]
        helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),  # [b, d]
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),  # [b, 1]
        helper.make_node("Max", ["count", "eps"], ["count_safe"]),
        helper.make_node("Div", ["summed", "count_safe"], ["pooled"]),
        helper.make_node("LpNormalization", ["pooled"], ["prompt_embedding"], axis=-1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("prompt_embedding", TensorProto.FLOAT, ["batch", DIM])],
        initializer=[
            numpy_helper.from_array(table.astype(np.float32), "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([1e-9], dtype=np.float32), "eps"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_tiny_bundle(
    folder: Path,
    *,
    models: Sequence[str] = MODELS,
    seed: int = 0,
    max_tokens: int = 32,
    head_tokens: int = 8,
    name: str = "tiny",
) -> Path:
    """Writes a complete, verifiable bundle into ``folder`` and returns it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer()
    vocab = tokenizer.get_vocab_size()
    table = rng.normal(size=(vocab, DIM)).astype(np.float32)
    table[:, 0] = 0.0  # axis 0 is reserved for the "hard" signal
    hard = tokenizer.token_to_id("contract")
    table[hard] = 0.0
    table[hard, 0] = 400.0  # "contract" dominates the pooled vector, even in long prompts
    _encoder_onnx(folder / "encoder.onnx", vocab, table)
    (folder / "tokenizer.json").write_bytes(TOKENIZER_PATH.read_bytes())
    hidden = 6
    m = len(models)
    trunk_weight = rng.normal(size=(DIM, hidden)).astype(np.float32) * 0.1
    trunk_weight[0, 0] = 3.0  # the "hard" axis feeds hidden unit 0
    model_vectors = rng.normal(size=(m, hidden)).astype(np.float32) * 0.1
    # Every model is good at ordinary prompts; hidden unit 0 ("contract")
    # hurts the cheap ones most and leaves the frontier model untouched.
    hurt = {"small": -3.0, "mid": -1.2, "frontier": 0.0, "ours-8b": -0.8}
    model_vectors[:, 0] = [hurt.get(name, -1.0) for name in models]
    base = np.full(m, 2.8, dtype=np.float32)
    if "frontier" in models:
        base[list(models).index("frontier")] = 3.0
    np.savez(
        folder / "heads.npz",
        trunk_weight=trunk_weight,
        trunk_bias=np.zeros(hidden, np.float32),
        model_vectors=model_vectors,
        model_bias=base,
        scale_offsets=np.zeros((1, m), np.float32),
    )
    (folder / "models.json").write_text(
        json.dumps({"models": [{"id": model} for model in models], "scales": ["correct(0/1)"]})
    )
    (folder / "calibration.json").write_text(
        json.dumps({"method": "platt", "a": [1.0] * m, "b": [0.0] * m})
    )
    lengths = OutputLengthModel(
        by_model_task={}, by_model={model: 100.0 for model in models}, overall=100.0
    )
    (folder / "output_lengths.json").write_text(lengths.to_json())
    (folder / "model_card.md").write_text("# tiny test bundle\n")
    tiny_catalog().save(folder / "catalog.toml")
    write_manifest(
        folder,
        {
            "name": name,
            "encoder": {
                "truncation": {"max_tokens": max_tokens, "head_tokens": head_tokens},
                "dim": DIM,
            },
        },
    )
    return folder
