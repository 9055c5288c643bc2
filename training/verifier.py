"""Train the bundled verifier (``minilm-head-v1``) from the data in the repository and print its validation figures.

Run from the repository root, offline (CPU; the cached embeddings make reruns take a few minutes):

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python training/verifier.py            # writes the artifact
    HF_HUB_OFFLINE=1 .venv/bin/python training/verifier.py --dry-run            # train and report only

Data (``benchmarks/data/pairs``, origins and terms in ``benchmarks/data/SOURCES.md``):

* training: ``qqp_train.jsonl`` (the first ``--qqp-pairs`` pairs after a seeded shuffle), and the 80 % training
  splits of PAWS and MRPC (``*_train.jsonl``, made by :func:`split` from the dev files, grouped by ``q1`` so a
  sentence never sits on both sides);
* validation (thresholds are chosen here, never on test data): ``qqp_dev.jsonl``, ``paws_val.jsonl``,
  ``mrpc_val.jsonl`` and ``gptcache_dev.jsonl``.

Besides the labelled pairs, every training set is replayed the way the cache is used (all ``q1`` stored, each
``q2`` looked up) and the nearest *other* entries are added as negatives: in a cache, serving another question's
answer is wrong even when the two questions are near paraphrases, and those are exactly the candidates the
verifier meets.

The head is a two-layer perceptron over ``pair_features`` (lexical signals, ``u * v`` and ``|u - v|`` of the
MiniLM vectors), trained with Adam on binary cross-entropy with fixed seeds. The cosine floor and the verifier
threshold are then chosen on qqp_dev: the highest own-entry F1 whose precision reaches ``TARGET_PRECISION``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _embed import embed_unique

from lix_integrations.calibration import PairSet, ThresholdPoint
from lix_integrations.calibration_verifier import replay_with_verifier
from lix_integrations.tiers.verifier import DEFAULT_VERIFIER, HeadVerifier, pair_features

PAIRS = ROOT / "benchmarks" / "data" / "pairs"
#: Written outside the package: this head does not meet the bar for shipping (see training/MODEL_CARD.md); a head
#: that does goes to lix_integrations/models/ with ``--out`` and an entry in ``BUNDLED_VERIFIERS``.
ARTIFACT = Path(__file__).resolve().parent / ".cache" / "verifier-minilm-head-v1.npz"
EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
SEED = 20
#: Precision the default must reach on qqp_dev; the issue's bar is 0.85 on held-out data, so we leave a margin.
TARGET_PRECISION = 0.87
MIN_RECALL = 0.5
FLOORS = (0.55, 0.6, 0.65, 0.7, 0.75)
K = 4


def read(name: str) -> PairSet:
    return PairSet.from_jsonl(PAIRS / f"{name}.jsonl")


def split(name: str, fraction: float = 0.8) -> None:
    """Write ``{name}_train.jsonl`` / ``{name}_val.jsonl`` from ``{name}_dev.jsonl``: groups of pairs sharing a
    ``q1`` go to one side, groups shuffled with a fixed seed, ``fraction`` of the pairs to training."""
    rows = [json.loads(line) for line in open(PAIRS / f"{name}_dev.jsonl", encoding="utf-8") if line.strip()]
    groups: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault(str(row["q1"]).lower(), []).append(row)
    keys = sorted(groups)
    random.Random(SEED).shuffle(keys)
    train: list[dict[str, object]] = []
    val: list[dict[str, object]] = []
    for key in keys:
        (train if len(train) < fraction * len(rows) else val).extend(groups[key])
    for part, items in (("train", train), ("val", val)):
        with open(PAIRS / f"{name}_{part}.jsonl", "w", encoding="utf-8") as fh:
            for row in items:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def qqp_subset(limit: int) -> PairSet:
    pairs = read("qqp_train")
    order = list(range(len(pairs)))
    random.Random(SEED).shuffle(order)
    order = order[:limit]
    return PairSet(
        [pairs.q1[i] for i in order], [pairs.q2[i] for i in order], [pairs.labels[i] for i in order]
    )


def vectors(pairs: PairSet, tag: str) -> tuple[np.ndarray, np.ndarray]:
    table = embed_unique(pairs.q1 + pairs.q2, tag)
    return np.stack([table[t] for t in pairs.q1]), np.stack([table[t] for t in pairs.q2])


def idf_table(texts: list[str], min_count: int = 2) -> dict[str, float]:
    """log(N / df) of every word seen at least ``min_count`` times in ``texts`` (the training questions)."""
    from collections import Counter

    from lix_integrations.tiers.verifier import _tokens

    df = Counter(word for text in texts for word in set(_tokens(text)))
    n = len(texts)
    table = {w: float(np.log(n / c)) for w, c in sorted(df.items()) if c >= min_count}
    table[""] = float(np.log(n))  # the weight of a word never seen: the maximum, stored once
    return table


def examples(
    pairs: PairSet, v1: np.ndarray, v2: np.ndarray, idf: dict[str, float], mined: int = 2, floor: float = 0.5
):
    """Feature rows of the labelled pairs (prompt = q2, candidate = q1) plus mined other-entry negatives."""
    rows, labels = [], []
    for a, b, label, u, v in zip(pairs.q1, pairs.q2, pairs.labels, v1, v2, strict=True):
        rows.append(pair_features(b, a, v, u, idf))
        labels.append(label)
    entry: dict[str, int] = {}
    for i, text in enumerate(pairs.q1):
        entry.setdefault(text.lower(), i)
    first = sorted(set(entry.values()))
    stored = v1[first]
    for start in range(0, len(pairs), 2048):
        sims = v2[start : start + 2048] @ stored.T
        top = np.argsort(-sims, axis=1)[:, : mined + 1]
        for offset, cols in enumerate(top):
            i = start + offset
            taken = 0
            for col in cols:
                j = first[col]
                if pairs.q1[j].lower() == pairs.q1[i].lower() or sims[offset, col] < floor or taken >= mined:
                    continue
                rows.append(pair_features(pairs.q2[i], pairs.q1[j], v2[i], v1[j], idf))
                labels.append(0)
                taken += 1
    return np.asarray(rows, dtype=np.float32), np.asarray(labels, dtype=np.float32)


def train(x: np.ndarray, y: np.ndarray, weights: np.ndarray, epochs: int) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-4
    xt = torch.from_numpy((x - mean) / scale)
    yt = torch.from_numpy(y)
    wt = torch.from_numpy(weights.astype(np.float32))
    model = torch.nn.Sequential(
        torch.nn.Dropout(0.1),
        torch.nn.Linear(x.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(256, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(perm), 512):
            idx = perm[start : start + 512]
            logits = model(xt[idx]).squeeze(1)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx], reduction="none")
                * wt[idx]
            ).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(perm):.4f}", file=sys.stderr, flush=True)
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    out = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}
    for i, layer in enumerate(layers, start=1):
        out[f"w{i}"] = layer.weight.detach().numpy().T.astype(np.float32).copy()
        out[f"b{i}"] = layer.bias.detach().numpy().astype(np.float32).copy()
    return out


def fmt(p: ThresholdPoint) -> str:
    return f"t={p.threshold:.3f} P={p.precision:.3f} R={p.recall:.3f} F1={p.f1:.3f} hit_rate={p.hit_rate:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--qqp-pairs", type=int, default=16000, help="QQP training pairs used (seeded subset)"
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--dry-run", action="store_true", help="do not write the artifact")
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    parser.add_argument(
        "--select-only",
        action="store_true",
        help="keep the weights in --out, choose floor and threshold again",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    random.seed(SEED)
    np.random.seed(SEED)
    for name in ("paws", "mrpc"):
        split(name)

    train_sets = {
        "qqp_train": qqp_subset(args.qqp_pairs),
        "paws_train": read("paws_train"),
        "mrpc_train": read("mrpc_train"),
    }
    val_sets = {name: read(name) for name in ("qqp_dev", "paws_val", "mrpc_val", "gptcache_dev")}
    vecs = {}
    for name, pairs in {**train_sets, **val_sets}.items():
        tag = f"{name}-{len(pairs)}"
        vecs[name] = vectors(pairs, tag)
    embedded = time.perf_counter()
    print(f"[verifier] embeddings ready after {embedded - started:.0f}s", file=sys.stderr, flush=True)

    # Word weights from every training question (QQP's full training file: no embedding needed for these).
    full = read("qqp_train")
    corpus = sorted(set(full.q1 + full.q2 + train_sets["paws_train"].q1 + train_sets["mrpc_train"].q1))
    idf = idf_table(corpus)
    xs, ys, ws = [], [], []
    #: Weight of each training set's examples: QQP is closest to chat prompts; PAWS teaches word order.
    set_weight = {"qqp_train": 1.0, "paws_train": 1.0, "mrpc_train": 0.5}
    for name, pairs in train_sets.items():
        if args.select_only:
            break
        x, y = examples(pairs, *vecs[name], idf)
        xs.append(x)
        ys.append(y)
        ws.append(np.full(len(y), set_weight[name], dtype=np.float32))
        print(f"  {name}: {len(y)} examples ({int(y.sum())} positive)", file=sys.stderr, flush=True)
    if args.select_only:
        with np.load(args.out, allow_pickle=False) as data:
            weights = {k: data[k] for k in data.files if k != "meta"}
    else:
        x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        weights = train(x, y, w, args.epochs)
    weights["idf_words"] = np.asarray(list(idf), dtype=str)
    weights["idf_values"] = np.asarray(list(idf.values()), dtype=np.float32)
    trained = time.perf_counter()

    tmp = args.out.with_suffix(".tmp.npz")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    np.savez(tmp, **weights, meta=json.dumps({"threshold": 0.5, "floor": 0.5}))
    head = HeadVerifier(tmp, name=DEFAULT_VERIFIER)

    # Choose the floor and threshold on qqp_dev: best F1 with precision >= TARGET_PRECISION (the bar);
    # when no point with recall >= MIN_RECALL reaches it, the best F1 (and say so: the head misses the bar).
    replays = {
        name: {floor: replay_with_verifier(pairs, *vecs[name], head, floor=floor, k=K) for floor in FLOORS}
        for name, pairs in val_sets.items()
    }
    best: tuple[float, float, ThresholdPoint] | None = None
    fallback: tuple[float, float, ThresholdPoint] | None = None
    for floor in FLOORS:
        curve = replays["qqp_dev"][floor].curve()
        for point in curve.points:
            if fallback is None or point.f1 > fallback[2].f1:
                fallback = (floor, point.threshold, point)
            meets = point.precision >= TARGET_PRECISION and point.recall >= MIN_RECALL
            if meets and (best is None or point.f1 > best[2].f1):
                best = (floor, point.threshold, point)
    if best is None:
        print(
            f"\nNO floor/threshold reaches precision {TARGET_PRECISION} with recall {MIN_RECALL} on qqp_dev: "
            "this head does not meet the bar; its best-F1 point follows"
        )
        best = fallback
    assert best is not None
    floor, threshold, _ = best
    meta = {
        "name": DEFAULT_VERIFIER,
        "embedder": EMBEDDER,
        "threshold": threshold,
        "floor": floor,
        "k": K,
        "seed": SEED,
        "qqp_pairs": args.qqp_pairs,
        "epochs": args.epochs,
        "validation": {},
    }
    print(f"\nchosen on qqp_dev: cosine floor {floor}, verifier threshold {threshold} (k={K})")
    for name in val_sets:
        point = replays[name][floor].curve().at(threshold)
        meta["validation"][name] = {
            "precision": round(point.precision, 4),
            "recall": round(point.recall, 4),
            "f1": round(point.f1, 4),
            "hit_rate": round(point.hit_rate, 4),
        }
        print(f"  {name:<13} {fmt(point)}")
    print(
        f"\ntimes: embeddings {embedded - started:.0f}s, training {trained - embedded:.0f}s, "
        f"total {time.perf_counter() - started:.0f}s; load average {os.getloadavg()[0]:.1f}"
    )
    if args.dry_run:
        tmp.unlink()
        return 0
    np.savez_compressed(args.out, **weights, meta=json.dumps(meta, sort_keys=True))
    tmp.unlink()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
