"""The cache's sentence encoder folder (learned_router.cache.encoder) and its
export from the teacher (training.cache_encoder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundles import make_tiny_bundle
from learned_router.cache import CacheEncoder, SemanticCache
from learned_router.cache.encoder import verify_cache_encoder, write_cache_encoder_manifest
from learned_router.errors import BundleError


def _folder(tmp_path: Path) -> Path:
    """A cache-encoder folder around the tiny bundle's ONNX graph."""
    bundle = make_tiny_bundle(tmp_path / "bundle")
    folder = tmp_path / "cache-encoder"
    folder.mkdir()
    shutil.copyfile(bundle / "encoder.onnx", folder / "encoder.onnx")
    shutil.copyfile(bundle / "tokenizer.json", folder / "tokenizer.json")
    write_cache_encoder_manifest(
        folder,
        {
            "name": "tiny-cache",
            "min_similarity": 0.9,
            "truncation": {"max_tokens": 16, "head_tokens": 4},
        },
    )
    return folder


def test_a_cache_encoder_embeds_and_configures_the_cache(tmp_path: Path) -> None:
    encoder = CacheEncoder.load(_folder(tmp_path))
    vectors = encoder(["enable two-factor login", "enable two-factor login", "what is 2 + 2"])
    assert vectors.shape == (3, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-6)
    config = encoder.cache_config(max_entries=10)
    assert (config.min_similarity, config.encoder_name, config.max_entries) == (
        0.9,
        "tiny-cache",
        10,
    )
    cache = SemanticCache(embed=encoder, config=config)
    cache.store("What is the capital of France?", "Paris", tenant="acme")
    hit = cache.lookup("  What is the capital of France?\n", tenant="acme")
    assert hit is not None
    assert hit.response == "Paris"


def test_a_tampered_or_incomplete_cache_encoder_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with open(folder / "encoder.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="checksum mismatch"):
        CacheEncoder.load(folder)
    (folder / "encoder.onnx").unlink()
    with pytest.raises(BundleError, match=r"encoder\.onnx is missing"):
        verify_cache_encoder(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(BundleError, match="export-encoder"):
        CacheEncoder.load(folder)


def test_a_cache_encoder_of_another_format_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="version 99"):
        CacheEncoder.load(folder)


@pytest.mark.slow
def test_the_exported_teacher_matches_sentence_transformers(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the export needs the train extra")
    from training.cache_encoder import PARITY_MIN_COSINE, export_cache_encoder

    folder = export_cache_encoder(tmp_path / "cache-encoder")
    encoder = CacheEncoder.load(folder)
    manifest = verify_cache_encoder(folder)
    assert manifest["parity_min_cosine"] >= PARITY_MIN_COSINE
    assert encoder.dim == 384
    assert encoder.min_similarity == 0.85
    a, b, c = encoder(
        [
            "How do I reset my password?",
            "how do i reset my password",
            "Give me a recipe for banana bread.",
        ]
    )
    assert float(a @ b) > 0.95
    assert float(a @ c) < 0.5


def _dynamic_int8_folder(tmp_path: Path) -> Path:
    """A cache-encoder folder whose graph is quantised the way the exported
    encoders are (onnxruntime's dynamic int8: activation scales computed over
    the whole input tensor, so over the whole batch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from learned_router.tokens import TOKENIZER_PATH, load_tokenizer

    dim = 16
    rng = np.random.default_rng(0)
    vocab = load_tokenizer().get_vocab_size()
    table = rng.normal(size=(vocab, dim)).astype(np.float32)
    table[load_tokenizer().token_to_id("contract")] *= 300.0  # a loud batch-mate
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
        helper.make_node("MatMul", ["masked", "weight"], ["projected"]),  # int8, dynamic
        helper.make_node("ReduceSum", ["projected", "axis1"], ["pooled"], keepdims=0),
        helper.make_node("LpNormalization", ["pooled"], ["prompt_embedding"], axis=-1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_int8_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("prompt_embedding", TensorProto.FLOAT, ["batch", dim])],
        initializer=[
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(rng.normal(size=(dim, dim)).astype(np.float32), "weight"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "int8-cache-encoder"
    folder.mkdir()
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    quantize_dynamic(
        str(tmp_path / "fp32.onnx"),
        str(folder / "encoder.onnx"),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
    )
    (folder / "tokenizer.json").write_bytes(TOKENIZER_PATH.read_bytes())
    write_cache_encoder_manifest(
        folder, {"name": "tiny-int8", "truncation": {"max_tokens": 32, "head_tokens": 8}}
    )
    return folder


def test_a_text_gets_the_same_vector_alone_and_in_any_batch(tmp_path: Path) -> None:
    encoder = CacheEncoder.load(_dynamic_int8_folder(tmp_path))
    text = "How do I reset my password?"
    alone = encoder([text])[0]
    for batch in (
        [text, "contract contract contract law"],
        ["contract", "a much longer question about something else entirely, padded", text],
        [text] * 5,
    ):
        vectors = encoder(batch)
        np.testing.assert_array_equal(vectors[batch.index(text)], alone)
    cache = SemanticCache(embed=encoder, config=encoder.cache_config(min_similarity=0.999))
    cache.store_many([text, "contract contract contract law"], ["a", "b"], tenant="t")
    hit = cache.lookup(text + " ", tenant="t")  # exact miss (trailing space kept), semantic hit
    assert hit is not None
    assert hit.similarity == pytest.approx(1.0, abs=1e-6)


def test_the_shipped_encoder_loads_verified_with_no_argument() -> None:
    from learned_router.cache.encoder import PACKAGED_FOLDER

    encoder = CacheEncoder.load()
    assert encoder.path == PACKAGED_FOLDER
    manifest = verify_cache_encoder(PACKAGED_FOLDER)
    assert set(manifest["files"]) >= {"encoder.onnx", "tokenizer.json", "verifier.json"}
    assert encoder.min_similarity_without_verifier >= encoder.min_similarity
    a, b, c = encoder(
        ["How do I reset my password?", "how do i reset my password", "Bake banana bread."]
    )
    assert float(a @ b) > 0.95
    assert float(a @ c) < 0.5


def test_the_default_folder_can_be_moved_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    monkeypatch.setenv("LEARNED_ROUTER_CACHE_ENCODER", str(folder))
    assert CacheEncoder.load().name == "tiny-cache"
    monkeypatch.setenv("LEARNED_ROUTER_CACHE_ENCODER", str(tmp_path / "nowhere"))
    with pytest.raises(BundleError, match="export-encoder"):
        CacheEncoder.load()
