"""Train the bundled cross-encoder verifier (``minilm-cross-v1``) from the data in the repository.

Run from the repository root, offline, on CPU:

    HF_HUB_OFFLINE=1 .venv/bin/python training/cross_encoder.py --threads 1   # train, choose, write the file
    HF_HUB_OFFLINE=1 .venv/bin/python training/cross_encoder.py --select-only # keep the weights, choose again

(``--threads 1`` was faster than 2 on a machine shared with other jobs; on an idle 2-core machine use 2.) The
validation replays need the sets' MiniLM vectors, embedded once and cached by ``training/_embed.py``.

Model: the first ``--layers`` layers of the bundled all-MiniLM-L6-v2 (``lix_integrations.tiers.cross_encoder``)
reading ``[CLS] a [SEP] b [SEP]``, mean-pooled, one linear unit; the word-embedding table stays frozen (the
artifact ships only what changed, in float16). One epoch, AdamW, linear warm-up and decay, bfloat16 autocast,
length-bucketed batches, fixed seeds.

Data (``benchmarks/data/pairs``, origins and terms in ``benchmarks/data/SOURCES.md``), training only:

* ``qqp_train.jsonl``: ``--qqp-pairs`` pairs after a seeded shuffle, each in a random order;
* mined negatives: for ``--mined`` of those questions, the stored question of *another* pair that shares the
  most rare words (a cache must not serve another entry's answer, and these are the candidates it meets);
* ``paws_train.jsonl`` in both orders (word-order paraphrases vs word swaps: the hardest part, so seen twice);
* ``mrpc_train.jsonl``, random order.

Validation (thresholds are chosen here, never on test data): ``qqp_dev``, ``paws_val``, ``mrpc_val`` and
``gptcache_dev``, replayed the way the cache is used (every q1 stored, every q2 looked up through the MiniLM
cosine floor and the top-4 candidates, a hit right only when it serves its own q1 of a duplicate pair). The
chosen (floor, threshold) is the best qqp_dev F1 whose qqp_dev precision reaches ``TARGET_PRECISION``, PAWS
precision ``PAWS_PRECISION`` with recall 0.5, and MRPC / GPTCache F1 at least cosine's at its default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from lix_integrations.calibration import PairSet, ThresholdPoint
from lix_integrations.tiers.cross_encoder import build_model, encode_pairs, load_base_weights, make_tokenizer

PAIRS = ROOT / "benchmarks" / "data" / "pairs"
NAME = "minilm-cross-v1"
#: Written outside the package: the cross-encoder trained here misses the bar for shipping (training/MODEL_CARD.md).
#: One that meets it goes to lix_integrations/models/ (``--out``) with an entry in ``BUNDLED_VERIFIERS``, where the
#: wheel picks it up as package data and ``load_bundled`` reads it through importlib.resources.
ARTIFACT = Path(__file__).resolve().parent / ".cache" / f"{NAME}.npz"
CACHE = Path(__file__).resolve().parent / ".cache"
EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
SEED = 20
#: The issue's bars are 0.85 (QQP) and 0.75 (PAWS) on held-out data; the validation choice keeps a margin.
TARGET_PRECISION = 0.87
PAWS_PRECISION = 0.77
MIN_RECALL = 0.5
FLOORS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)
K = 4
VAL_SETS = ("qqp_dev", "paws_val", "mrpc_val", "gptcache_dev")


def read(name: str) -> PairSet:
    return PairSet.from_jsonl(PAIRS / f"{name}.jsonl")


def log(message: str) -> None:
    print(f"[cross-encoder {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_WORD = __import__("re").compile(r"[a-z0-9]+")


def mined_negatives(pairs: PairSet, count: int, rng: random.Random) -> list[tuple[str, str, int]]:
    """For ``count`` seeded q2s, the q1 of another pair sharing the most IDF weight of words (label 0)."""
    q1s = sorted(set(pairs.q1))
    words = [set(_WORD.findall(t.lower())) for t in q1s]
    df = Counter(w for ws in words for w in ws)
    n = len(q1s)
    idf = {w: math.log(n / c) for w, c in df.items()}
    postings: dict[str, list[int]] = defaultdict(list)
    for i, ws in enumerate(words):
        for w in ws:
            if df[w] <= 300:  # frequent words say nothing about a near miss, and cost the most
                postings[w].append(i)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    out: list[tuple[str, str, int]] = []
    for i in order[:count]:
        prompt, own = pairs.q2[i], pairs.q1[i].lower()
        scores: Counter[int] = Counter()
        for w in set(_WORD.findall(prompt.lower())):
            for j in postings.get(w, ()):
                scores[j] += idf[w]
        for j, _ in scores.most_common(3):
            if q1s[j].lower() != own and q1s[j].lower() != prompt.lower():
                out.append((prompt, q1s[j], 0))
                break
    return out


def training_examples(qqp_pairs: int, mined: int) -> list[tuple[str, str, int]]:
    rng = random.Random(SEED)
    qqp = read("qqp_train")
    order = list(range(len(qqp)))
    rng.shuffle(order)
    order = order[:qqp_pairs]
    subset = PairSet([qqp.q1[i] for i in order], [qqp.q2[i] for i in order], [qqp.labels[i] for i in order])
    examples: list[tuple[str, str, int]] = []

    def add(a: str, b: str, label: int) -> None:
        examples.append((a, b, label) if rng.random() < 0.5 else (b, a, label))

    for a, b, label in zip(subset.q1, subset.q2, subset.labels, strict=True):
        add(b, a, label)
    negatives = mined_negatives(subset, mined, rng)
    for a, b, label in negatives:
        add(a, b, label)
    paws = read("paws_train")
    for a, b, label in zip(paws.q1, paws.q2, paws.labels, strict=True):
        examples.append((a, b, label))
        examples.append((b, a, label))
    mrpc = read("mrpc_train")
    for a, b, label in zip(mrpc.q1, mrpc.q2, mrpc.labels, strict=True):
        add(a, b, label)
    log(
        f"examples: qqp {len(subset)}, mined negatives {len(negatives)}, paws {2 * len(paws)}, "
        f"mrpc {len(mrpc)}; {len(examples)} in all, {sum(e[2] for e in examples)} positive"
    )
    return examples


def batches(examples: list[tuple[str, str, int]], tokenizer, size: int, rng: random.Random):
    """Length-bucketed batches: shuffled, sorted by length within chunks of 64 batches, batch order shuffled."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch([(a, b) for a, b, _ in examples])]
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = size * 64
    out = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        out.extend(part[i : i + size] for i in range(0, len(part), size))
    rng.shuffle(out)
    return out


def train(args) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED + 1)
    examples = training_examples(args.qqp_pairs, args.mined)
    if args.max_examples:
        examples = examples[: args.max_examples]  # a smoke run of the whole script
    tokenizer = make_tokenizer(args.max_length)
    plan = [b for _ in range(args.epochs) for b in batches(examples, tokenizer, args.batch_size, rng)]
    model = build_model(args.layers)
    state = load_base_weights(args.layers)
    head = torch.nn.Linear(2 * 384, 1)
    torch.nn.init.normal_(head.weight, std=0.02)
    torch.nn.init.zeros_(head.bias)
    state["head.weight"], state["head.bias"] = head.weight.detach(), head.bias.detach()
    model.load_state_dict(state)
    model.word.weight.requires_grad_(False)
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    decay = {id(p) for n, p in model.named_parameters() if p.ndim == 2 and not n.startswith("head.")}
    groups = [
        {"params": [p for p in body if id(p) in decay], "lr": args.lr, "weight_decay": 0.01},
        {"params": [p for p in body if id(p) not in decay], "lr": args.lr, "weight_decay": 0.0},
        {"params": list(model.head.parameters()), "lr": args.head_lr, "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups)
    steps = len(plan)
    warmup = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    model.train()
    started = time.perf_counter()
    running = 0.0
    for step, idx in enumerate(plan, start=1):
        batch = [examples[i] for i in idx]
        ids, types, mask = encode_pairs(tokenizer, [(a, b) for a, b, _ in batch])
        labels = torch.tensor([float(y) for _, _, y in batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.no_bf16):
            logits = model(ids, types, mask).float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * float(loss.detach()) if step > 1 else float(loss.detach())
        if step % 50 == 0 or step == steps:
            elapsed = time.perf_counter() - started
            log(
                f"step {step}/{steps} loss {running:.4f} {elapsed / 60:.1f} min, "
                f"eta {elapsed / step * (steps - step) / 60:.1f} min, load {os.getloadavg()[0]:.1f}"
            )
    return {
        k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items() if k != "word.weight"
    }


# -- choosing the floor and threshold on validation data ----------------------------------------------------


def candidates(pairs: PairSet, floor: float) -> tuple[list[list[tuple[int, float]]], list[str], np.ndarray]:
    """Per lookup, the (entry, cosine) of the top-K stored q1 at or above ``floor``, and each q2's own entry."""
    from _embed import embed_unique

    table = embed_unique(pairs.q1 + pairs.q2, "val")
    texts = list(dict.fromkeys(pairs.q1))
    entry = {t: i for i, t in enumerate(texts)}
    stored = np.stack([table[t] for t in texts])
    asked = np.stack([table[t] for t in pairs.q2])
    sims = np.clip(asked @ stored.T, 0.0, 1.0)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :K]
    found = [[(int(j), float(sims[i, j])) for j in row if sims[i, j] >= floor] for i, row in enumerate(top)]
    own = np.asarray([entry[t] for t in pairs.q1])
    return found, texts, own


def replay(pairs, found, texts, own, scores, floor: float) -> tuple[np.ndarray, np.ndarray, int]:
    labels = np.asarray(pairs.labels)
    best = np.full(len(pairs), -np.inf)
    right = np.zeros(len(pairs), dtype=bool)
    for i, cands in enumerate(found):
        kept = [(j, s) for j, s in cands if s >= floor]
        if not kept:
            continue
        values = [scores[(pairs.q2[i], texts[j])] for j, _ in kept]
        pick = int(np.argmax(values))
        best[i] = values[pick]
        right[i] = labels[i] == 1 and kept[pick][0] == own[i]
    return best, right, int(labels.sum())


def point(best: np.ndarray, right: np.ndarray, positives: int, threshold: float) -> ThresholdPoint:
    from lix_integrations.calibration_curves import _curve

    return _curve(best, right, positives, [threshold]).points[0]


def select(weights_path: Path, args) -> dict[str, object]:
    from lix_integrations.calibration import curve_from_vectors
    from lix_integrations.tiers.cross_encoder import CrossEncoderVerifier
    from lix_integrations.tiers.semantic import DEFAULT_THRESHOLD

    verifier = CrossEncoderVerifier(weights_path, name=NAME)
    results = {}
    cosine_default = {}
    for name in VAL_SETS:
        pairs = read(name)
        found, texts, own = candidates(pairs, min(FLOORS))
        todo = sorted(
            {(pairs.q2[i], texts[j]) for i, c in enumerate(found) for j, _ in c},
            key=lambda p: len(p[0]) + len(p[1]),
        )
        started = time.perf_counter()
        values = verifier.score_pairs(todo)
        log(f"{name}: {len(todo)} candidate pairs scored in {time.perf_counter() - started:.0f}s")
        scores = dict(zip(todo, values, strict=True))
        results[name] = {f: replay(pairs, found, texts, own, scores, f) for f in FLOORS}
        from _embed import embed_unique

        table = embed_unique(pairs.q1 + pairs.q2, "val")
        cos = curve_from_vectors(
            pairs, np.stack([table[t] for t in pairs.q1]), np.stack([table[t] for t in pairs.q2])
        )
        cosine_default[name] = cos.at(DEFAULT_THRESHOLD)
    thresholds = [round(0.01 * i, 2) for i in range(1, 100)]
    best, fallback = None, None
    for floor in FLOORS:
        for t in thresholds:
            pts = {name: point(*results[name][floor], t) for name in VAL_SETS}
            q, pw = pts["qqp_dev"], pts["paws_val"]
            if fallback is None or q.f1 > fallback[2]["qqp_dev"].f1:
                fallback = (floor, t, pts)
            ok = (
                q.precision >= TARGET_PRECISION
                and pw.precision >= PAWS_PRECISION
                and pw.recall >= MIN_RECALL
                and pts["mrpc_val"].f1 >= cosine_default["mrpc_val"].f1
                and pts["gptcache_dev"].f1 >= cosine_default["gptcache_dev"].f1
            )
            if ok and (best is None or q.f1 > best[2]["qqp_dev"].f1):
                best = (floor, t, pts)
    meets = best is not None
    if best is None:
        log("NO floor/threshold meets every bar on validation; the best qqp_dev F1 follows")
        best = fallback
    floor, threshold, pts = best
    print(
        f"\nchosen on validation: cosine floor {floor}, verifier threshold {threshold} (k={K}); meets bars: {meets}"
    )
    for name in VAL_SETS:
        c, v = cosine_default[name], pts[name]
        print(
            f"  {name:<13} cosine@{DEFAULT_THRESHOLD}: P={c.precision:.3f} R={c.recall:.3f} F1={c.f1:.3f}   "
            f"verifier: P={v.precision:.3f} R={v.recall:.3f} F1={v.f1:.3f} hit_rate={v.hit_rate:.3f}"
        )
    for name in ("qqp_dev", "paws_val"):  # the trade-off, for the record
        for f in FLOORS:
            line = " ".join(
                f"{t}:{point(*results[name][f], t).precision:.2f}/{point(*results[name][f], t).recall:.2f}"
                for t in (0.3, 0.5, 0.7, 0.8, 0.9)
            )
            print(f"    {name} floor {f}: P/R at thresholds {line}")
    return {
        "threshold": threshold,
        "floor": floor,
        "meets_bars": meets,
        "validation": {
            name: {k: round(getattr(pts[name], k), 4) for k in ("precision", "recall", "f1", "hit_rate")}
            for name in VAL_SETS
        },
    }


def write(path: Path, weights: dict[str, np.ndarray], meta: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(
        tmp, **{k: v.astype(np.float16) for k, v in weights.items()}, meta=json.dumps(meta, sort_keys=True)
    )
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qqp-pairs", type=int, default=18000)
    parser.add_argument("--mined", type=int, default=4000)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1.5e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a busy machine)"
    )
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 (CPUs without bfloat16)")
    parser.add_argument("--max-examples", type=int, default=0, help="train on the first N only (smoke runs)")
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    parser.add_argument("--select-only", action="store_true", help="keep the weights in --out, choose again")
    args = parser.parse_args()
    started = time.perf_counter()
    random.seed(SEED)
    np.random.seed(SEED)
    settings = {
        k: getattr(args, k)
        for k in ("qqp_pairs", "mined", "layers", "max_length", "batch_size", "epochs", "lr", "head_lr")
    }
    if args.select_only:
        with np.load(args.out, allow_pickle=False) as data:
            weights = {k: np.asarray(data[k], dtype=np.float32) for k in data.files if k != "meta"}
            old = json.loads(str(data["meta"]))
            settings = {
                **settings,
                **{k: v for k, v in old.items() if k in settings or k == "training_seconds"},
            }
    else:
        weights = train(args)
    trained = time.perf_counter()
    meta: dict[str, object] = {
        "name": NAME,
        "embedder": EMBEDDER,
        "threshold": 0.5,
        "floor": 0.7,
        "k": K,
        "seed": SEED,
        **settings,
    }
    write(args.out, weights, meta)  # float16, as shipped: the thresholds are chosen on the shipped weights
    CACHE.mkdir(exist_ok=True)
    chosen = select(args.out, args)
    meta.update(chosen)
    if not args.select_only:
        meta["training_seconds"] = round(trained - started)
    write(args.out, weights, meta)
    print(
        f"\ntimes: training {trained - started:.0f}s, selection {time.perf_counter() - trained:.0f}s; "
        f"load average {os.getloadavg()[0]:.1f}; wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
