"""The semantic tier's verifier: a second opinion on each candidate the vector search found.

A cosine threshold cannot tell "flights from New York to Florida" from "flights from Florida to New York", nor
"how do I lose weight" from "how do I gain weight": with all-MiniLM-L6-v2 the best threshold on Quora question
pairs still serves a wrong answer on almost half of its semantic hits (docs/semantic.md). So, when a verifier is
on, the tier retrieves the nearest few entries of the partition above a *lower* cosine floor, scores each
(prompt, candidate prompt) pair with the verifier, and serves the best candidate whose score passes the
verifier's own threshold. Exact hits and lookups whose search finds nothing above the floor never reach it.

Two verifiers were trained for the default embedder and measured; neither is bundled yet, because neither meets
the bar for turning on by default (training/MODEL_CARD.md), so ``"auto"`` is cosine alone. The better one is a
cross-encoder (`cross_encoder`: the first layers of the all-MiniLM-L6-v2 model the default embedder already
runs, fine-tuned to read both prompts as one sequence; ``training/cross_encoder.py``); the other a small head over
the MiniLM vectors and lexical features (`HeadVerifier`, ``training/verifier.py``). A file that meets the
bar goes to ``lix_integrations/models`` with an entry in ``BUNDLED_VERIFIERS``: the wheel carries it as package
data, `load_bundled` reads it through importlib.resources, and a cross-encoder loads its weights (and torch)
at its first candidate, never for engines whose lookups are exact or find nothing near.

Any callable ``(prompt, candidate_prompt) -> float`` can be a verifier instead, with its own threshold.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .cross_encoder import CrossEncoderVerifier
from .verifier_base import FloatArray, Verifier, VerifierCandidate, check_score_threshold

__all__ = [
    "BUNDLED_VERIFIERS",
    "DEFAULT_VERIFIER",
    "CallableVerifier",
    "HeadVerifier",
    "Verifier",
    "VerifierCandidate",
    "lexical_features",
    "load_bundled",
    "pair_features",
    "resolve_verifier",
]

#: The bundled verifier "auto" picks for the default local embedder (all-MiniLM-L6-v2).
DEFAULT_VERIFIER = "minilm-cross-v1"
#: Bundled verifiers by name: the embedder they go with, their weights file in ``lix_integrations/models`` and
#: their kind ("cross-encoder": `CrossEncoderVerifier`; "head": `HeadVerifier`).
#: Empty: no trained verifier has met the bar for shipping yet (training/MODEL_CARD.md), so "auto" is cosine alone.
BUNDLED_VERIFIERS: dict[str, tuple[str, str, str]] = {}


class CallableVerifier(Verifier):
    """A user's ``fn(prompt, candidate_prompt) -> float``, called once per candidate; higher means "same".

    Its scores are compared with ``threshold`` (default 0.5, e.g. a probability); the cosine floor stays the
    engine's ``threshold`` (its default when left unset).
    """

    needs_vectors = False
    blocking = True

    def __init__(
        self, fn: Callable[[str, str], float], *, threshold: float = 0.5, name: str | None = None
    ) -> None:
        if not callable(fn):
            raise ConfigError(
                f"verifier must be 'auto', 'off', a bundled verifier's name or a callable, got {fn!r}"
            )
        if inspect.iscoroutinefunction(fn):
            raise ConfigError(
                "verifier must be a plain callable (prompt, candidate_prompt) -> float, not async"
            )
        self._fn = fn
        self.threshold = check_score_threshold(threshold)
        self.name = name or str(getattr(fn, "__qualname__", type(fn).__qualname__))

    def score(
        self, prompt: str, vector: FloatArray | None, candidates: Sequence[VerifierCandidate]
    ) -> list[float]:
        scores: list[float] = []
        for cand in candidates:
            value = self._fn(prompt, cand.prompt)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise TypeError(f"verifier {self.name} returned {type(value).__name__}, expected a number")
            value = float(value)
            scores.append(value if value == value else float("-inf"))  # NaN never passes
        return scores


class HeadVerifier(Verifier):
    """The bundled head: a two-layer perceptron over `pair_features`, weights in a ``.npz`` file.

    The file holds the layers (``w1``, ``b1``, ``w2``, ``b2``, ``w3``, ``b3``), the standardization of the
    features (``mean``, ``scale``), the word weights (``idf_words``, ``idf_values``) and a JSON ``meta``
    string with the threshold and cosine floor chosen on validation data. Nothing is pickled
    (``allow_pickle=False``).
    """

    needs_vectors = True
    blocking = False  # ~0.1 ms of numpy: cheaper than a thread hop

    def __init__(self, path: str | Path | Any, *, name: str, threshold: float | None = None) -> None:
        with np.load(path if isinstance(path, (str, Path)) else path.open("rb"), allow_pickle=False) as data:
            self._layers = [
                (np.asarray(data[f"w{i}"], dtype=np.float32), np.asarray(data[f"b{i}"], dtype=np.float32))
                for i in (1, 2, 3)
            ]
            self._mean = np.asarray(data["mean"], dtype=np.float32)
            self._scale = np.asarray(data["scale"], dtype=np.float32)
            meta = json.loads(str(data["meta"]))
            words = data["idf_words"] if "idf_words" in data else np.asarray([], dtype=str)
            weights = data["idf_values"] if "idf_values" in data else np.asarray([], dtype=np.float32)
        self.idf: Idf = {str(w): float(x) for w, x in zip(words.tolist(), weights.tolist(), strict=True)}
        self.name = name
        self.meta: dict[str, Any] = meta
        self.threshold = float(meta["threshold"]) if threshold is None else check_score_threshold(threshold)
        self.floor = float(meta["floor"])

    def score(
        self, prompt: str, vector: FloatArray | None, candidates: Sequence[VerifierCandidate]
    ) -> list[float]:
        if not candidates:
            return []
        if vector is None or any(c.vector is None for c in candidates):
            raise ValueError(f"verifier {self.name} needs the prompt's and every candidate's vector")
        rows = np.stack(
            [
                pair_features(prompt, c.prompt, vector, c.vector, self.idf)  # type: ignore[arg-type]
                for c in candidates
            ]
        )
        return [float(p) for p in self.predict(rows)]

    def predict(self, features: FloatArray) -> FloatArray:
        """Probability that each row's pair may share an answer (a batch of `pair_features` rows)."""
        x = (np.asarray(features, dtype=np.float32) - self._mean) / self._scale
        (w1, b1), (w2, b2), (w3, b3) = self._layers
        x = np.maximum(x @ w1 + b1, 0.0)
        x = np.maximum(x @ w2 + b2, 0.0)
        logits = (x @ w3 + b3).reshape(-1)
        result: FloatArray = (1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))).astype(np.float32)
        return result


@functools.cache
def load_bundled(name: str) -> Verifier:
    """A bundled verifier by name, made once per process (its file is read from inside the package; a
    cross-encoder's weights only at its first score)."""
    try:
        _, filename, kind = BUNDLED_VERIFIERS[name]
    except KeyError:
        known = ", ".join(sorted(BUNDLED_VERIFIERS))
        raise ConfigError(
            f"verifier must be 'auto', 'off', a callable or a bundled verifier ({known}), got {name!r}"
        ) from None
    resource = resources.files("lix_integrations") / "models" / filename
    if not resource.is_file():
        raise ConfigError(
            f"bundled verifier {name} is missing its weights file models/{filename} (a broken installation)"
        )
    if kind == "cross-encoder":
        return CrossEncoderVerifier(resource, name=name)
    return HeadVerifier(resource, name=name)


def resolve_verifier(option: object, embedder_name: str, threshold: float | None = None) -> Verifier | None:
    """The verifier an engine runs: ``"auto"`` (the bundled one made for the embedder, else none), ``"off"``,
    a bundled verifier's name (refused for another embedder's vectors), a `Verifier` or a callable."""
    if option is None or option == "auto":
        for name, (embedder, _, _) in BUNDLED_VERIFIERS.items():
            if embedder == embedder_name:
                return _with_threshold(load_bundled(name), threshold)
        return None
    if option == "off":
        return None
    if isinstance(option, str):
        verifier = load_bundled(option)
        trained_on = BUNDLED_VERIFIERS[option][0]
        if trained_on != embedder_name:
            raise ConfigError(
                f"verifier {option} reads {trained_on} vectors, but this engine embeds with {embedder_name}; "
                "use verifier='off' or a callable verifier"
            )
        return _with_threshold(verifier, threshold)
    if isinstance(option, Verifier):
        return _with_threshold(option, threshold) if threshold is not None else option
    if callable(option):
        return CallableVerifier(option, threshold=0.5 if threshold is None else threshold)
    raise ConfigError(
        f"verifier must be 'auto', 'off', a bundled verifier's name or a callable, got {type(option).__name__}"
    )


def _with_threshold(verifier: Verifier, threshold: float | None) -> Verifier:
    """``verifier`` with another threshold, without touching the shared per-process instance."""
    if threshold is None:
        return verifier
    import copy

    changed = copy.copy(verifier)
    changed.threshold = check_score_threshold(threshold)
    return changed


# -- features ------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    "a an the of to in on for at by with from and or is are was were be been being do does did can could "
    "should would will shall may might must i you he she it we they me my your his her its our their this that "
    "these those as if than then so there here about into over any some".split()
)
_NEGATIONS = frozenset(
    "not no never nothing none nobody cannot without n't don't doesn't didn't isn't "
    "aren't wasn't weren't can't won't shouldn't wouldn't couldn't".split()
)
_QUESTION = frozenset("what why how when where who whom whose which".split())
_COMPARATIVE = frozenset(
    "best worst better worse most least more less first last before after top bottom".split()
)

#: Names of the lexical features, in the order `lexical_features` returns them.
LEXICAL_FEATURES = (
    "cosine",
    "word_jaccard",
    "content_jaccard",
    "bigram_jaccard",
    "trigram_jaccard",
    "length_ratio",
    "length_gap",
    "only_in_prompt",
    "only_in_candidate",
    "numbers_differ",
    "numbers_present",
    "negation_differs",
    "question_words_differ",
    "first_word_same",
    "comparatives_differ",
    "order_agreement",
    "same_words",
    "neighbour_agreement",
    "char_ratio",
    "idf_match_share",
    "idf_unmatched_max",
    "idf_unmatched_share",
)

#: Inverse document frequency of words: rare words that differ ("python" / "java") separate questions that share
#: everything else. A word the table lacks counts as rarest.
Idf = dict[str, float]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _jaccard(a: set[Any], b: set[Any]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _order_agreement(a: list[str], b: list[str]) -> float:
    """Share of pairs of words that appear once in each text and keep their relative order (1.0: same order).

    A word swap ("from X to Y" / "from Y to X") keeps every word and breaks this; a paraphrase rarely keeps
    every word."""
    pos_a = {w: i for i, w in enumerate(a) if a.count(w) == 1}
    pos_b = {w: i for i, w in enumerate(b) if b.count(w) == 1}
    shared = [w for w in pos_a if w in pos_b]
    if len(shared) < 2:
        return 1.0
    shared = shared[:24]  # bounded cost on long prompts
    agree = total = 0
    for i in range(len(shared)):
        for j in range(i + 1, len(shared)):
            x, y = shared[i], shared[j]
            total += 1
            agree += (pos_a[x] < pos_a[y]) == (pos_b[x] < pos_b[y])
    return agree / total


def _neighbour_agreement(a: list[str], b: list[str]) -> float:
    """Share of shared words whose next word is the same in both texts (a swap changes a word's neighbours)."""
    nxt_a = {w: (a[i + 1] if i + 1 < len(a) else "") for i, w in enumerate(a)}
    nxt_b = {w: (b[i + 1] if i + 1 < len(b) else "") for i, w in enumerate(b)}
    shared = [w for w in nxt_a if w in nxt_b]
    if not shared:
        return 0.0
    return sum(nxt_a[w] == nxt_b[w] for w in shared) / len(shared)


def _idf_features(sa: set[str], sb: set[str], idf: Idf | None) -> list[float]:
    if not idf:
        return [0.0, 0.0, 0.0]
    top = idf.get("") or max(idf.values())  # the table stores its maximum under "" (never a word)

    def weight(word: str) -> float:
        return idf.get(word, top) if word not in _STOP else 0.0

    total = sum(weight(w) for w in sa) + sum(weight(w) for w in sb)
    shared = sum(2.0 * weight(w) for w in sa & sb)
    unmatched = [weight(w) for w in sa ^ sb]
    return [
        shared / total if total else 1.0,
        max(unmatched, default=0.0) / top,
        sum(unmatched) / total if total else 0.0,
    ]


def lexical_features(prompt: str, candidate: str, cosine: float, idf: Idf | None = None) -> list[float]:
    """The scalar features of a pair (see ``LEXICAL_FEATURES``): the prompt asked, then the stored one."""
    a, b = _tokens(prompt), _tokens(candidate)
    sa, sb = set(a), set(b)
    ca, cb = sa - _STOP, sb - _STOP
    na = {t for t in sa if any(ch.isdigit() for ch in t)}
    nb = {t for t in sb if any(ch.isdigit() for ch in t)}
    la, lb = max(len(a), 1), max(len(b), 1)
    neg_a = sum(t in _NEGATIONS or t.endswith("n't") for t in a)
    neg_b = sum(t in _NEGATIONS or t.endswith("n't") for t in b)
    return [
        cosine,
        _jaccard(sa, sb),
        _jaccard(ca, cb),
        _jaccard(_ngrams(a, 2), _ngrams(b, 2)),
        _jaccard(_ngrams(a, 3), _ngrams(b, 3)),
        min(la, lb) / max(la, lb),
        abs(la - lb) / (la + lb),
        len(sa - sb) / la,
        len(sb - sa) / lb,
        float(na != nb),
        float(bool(na or nb)),
        float((neg_a % 2) != (neg_b % 2)),
        float((sa & _QUESTION) != (sb & _QUESTION)),
        float(bool(a) and bool(b) and a[0] == b[0]),
        float((sa & _COMPARATIVE) != (sb & _COMPARATIVE)),
        _order_agreement(a, b),
        float(sorted(a) == sorted(b)),
        _neighbour_agreement(a, b),
        min(len(prompt), len(candidate)) / max(len(prompt), len(candidate), 1),
        *_idf_features(sa, sb, idf),
    ]


def pair_features(
    prompt: str, candidate: str, u: FloatArray, v: FloatArray, idf: Idf | None = None
) -> FloatArray:
    """The head's input for one pair: lexical features, then ``u * v`` and ``|u - v|`` of the unit vectors."""
    u = np.asarray(u, dtype=np.float32)
    v = np.asarray(v, dtype=np.float32)
    cosine = float(np.clip(np.dot(u, v), 0.0, 1.0))
    lexical = np.asarray(lexical_features(prompt, candidate, cosine, idf), dtype=np.float32)
    return np.concatenate([lexical, u * v, np.abs(u - v)])
