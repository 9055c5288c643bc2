"""Session tier vs lix-open-cache 2.1.6: add/read throughput, history latency, archive size, codec speed.

Workload: sessions of 40 messages (hot window 20, so half of every session goes to the archive) cut from the real
multi-turn conversations in ``benchmarks/data/conversations/`` (consecutive conversations concatenated). Messages are
added one at a time, as a chat application does.

Peers, measured in the same run on the same messages:
* lix-open-cache's ``HybridConversationCache`` (hot window in Redis, overflow to ``.huff``), on a redis-server this
  script starts on a free port (``--lix-redis real``; the default ``auto`` falls back to in-process ``fakeredis``,
  which is faster than a real server, when no redis-server can be started). lix rewrites a session's whole
  ``.huff`` file on every spill, so it runs on fewer sessions (its rate per message does not depend on the number
  of sessions, only on their length).
* Codecs on the archive frames (20 messages of JSON): lix's Huffman coder, zlib -9, zstd -3 and -19 without a
  dictionary, and ours (zstd -9 with the shipped dictionary, trained on unrelated sentence pairs; the
  conversations here were never seen by it).

    .venv/bin/python benchmarks/sessions.py [--sessions 1000] [--lix-sessions 100] [--lix-redis auto|real|fake]

Needs ``lix-open-cache==2.1.6``, and redis-server (``scripts/install-test-servers.sh``) or ``fakeredis``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import zstandard

from lix_integrations import Engine
from lix_integrations.archive.codec import Codec, compress, decompress
from lix_integrations.archive.format import encode_items
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig

DATA = Path(__file__).resolve().parent / "data" / "conversations" / "hh_harmless_dev.json"
MESSAGES_PER_SESSION = 40
WINDOW = 20


def load_messages() -> list[dict[str, str]]:
    conversations = json.loads(DATA.read_text(encoding="utf-8"))
    return [{"role": m["role"], "content": m["content"]} for c in conversations for m in c]


def session_messages(messages: list[dict[str, str]], index: int) -> list[dict[str, str]]:
    start = (index * MESSAGES_PER_SESSION) % (len(messages) - MESSAGES_PER_SESSION)
    return messages[start : start + MESSAGES_PER_SESSION]


def dir_size(path: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


# -- ours ----------------------------------------------------------------------------------------------------------


def run_ours(url: str, messages: list[dict[str, str]], sessions: int, workdir: Path) -> dict[str, float]:
    config = SessionConfig(hot_window=WINDOW, archive_dir=str(workdir / "archive"))
    engine = Engine(url, embedder=FakeEmbedder(), sessions=config)
    api = engine.sessions
    started = time.perf_counter()
    for s in range(sessions):
        sid = f"user-{s}"
        for message in session_messages(messages, s):
            api.add_message(sid, message)
    add_seconds = time.perf_counter() - started
    context, full = [], []
    for s in range(0, sessions, max(1, sessions // 200)):
        t = time.perf_counter()
        window = api.get_context(f"user-{s}")
        context.append(time.perf_counter() - t)
        t = time.perf_counter()
        history = api.get_full_history(f"user-{s}")
        full.append(time.perf_counter() - t)
        assert len(window) == WINDOW and history == session_messages(messages, s)
    started = time.perf_counter()
    reads = 0
    for s in range(sessions):
        api.get_context(f"user-{s}")
        reads += 1
    read_seconds = time.perf_counter() - started
    engine.close()
    return {
        "add_msgs_per_s": sessions * MESSAGES_PER_SESSION / add_seconds,
        "context_reads_per_s": reads / read_seconds,
        "context_ms": median_ms(context),
        "full_ms": median_ms(full),
        "archive_bytes": dir_size(workdir / "archive", "*.lxa") / sessions,
    }


# -- lix-open-cache --------------------------------------------------------------------------------------------------


def _lix_redis_client(mode: str) -> tuple[Any, Any, str]:
    """A Redis client factory for lix-open-cache: a real redis-server when one can be started, else fakeredis."""
    if mode in ("real", "auto"):
        try:
            import redis

            from lix_integrations.testing.redis_servers import start_plain

            server = start_plain()
            client = redis.Redis(host="127.0.0.1", port=server.port)
            return (lambda **_: client), server, "redis-server"
        except Exception as exc:
            if mode == "real":
                raise
            print(f"(no redis-server for lix-open-cache, using fakeredis: {exc})")
    import fakeredis

    fake = fakeredis.FakeServer()
    return (lambda **_: fakeredis.FakeRedis(server=fake)), None, "fakeredis"


def run_lix(
    messages: list[dict[str, str]],
    sessions: int,
    workdir: Path,
    *,
    clock_ids: bool = False,
    redis_mode: str = "auto",
) -> tuple[dict[str, float], str] | None:
    try:
        import lix_open_cache
        from lix_open_cache import hybrid_cache
        from loguru import logger as loguru_logger
    except ImportError as exc:
        print(f"(lix-open-cache peer skipped: {exc})")
        return None
    loguru_logger.remove()
    hybrid_cache.time = time  # type: ignore[attr-defined]
    if not clock_ids:
        # lix-open-cache takes message ids from the millisecond clock, so messages added back to back overwrite
        # each other (the "kept" column shows how many survive). A clock that moves 1 ms per call lets it keep
        # every message and do all the archive work it is designed to do: the fair comparison.
        import itertools
        import types

        ticks = itertools.count()
        base = time.time()
        hybrid_cache.time = types.SimpleNamespace(time=lambda: base + next(ticks) * 0.001, sleep=time.sleep)  # type: ignore[attr-defined]
    factory, server, redis_kind = _lix_redis_client(redis_mode)
    hybrid_cache.create_redis_client = factory  # type: ignore[attr-defined]
    config = lix_open_cache.CacheConfig(archive_dir=str(workdir / "lix"), hot_window_size=WINDOW)
    caches = [lix_open_cache.HybridConversationCache(f"user-{s}", config=config) for s in range(sessions)]
    started = time.perf_counter()
    for s, cache in enumerate(caches):
        for message in session_messages(messages, s):
            cache.add_message(message["role"], message["content"])
    add_seconds = time.perf_counter() - started
    context, full = [], []
    for cache in caches[: min(50, sessions)]:
        t = time.perf_counter()
        cache.get_context()
        context.append(time.perf_counter() - t)
        t = time.perf_counter()
        cache.get_full()
        full.append(time.perf_counter() - t)
    started = time.perf_counter()
    for cache in caches:
        cache.get_context()
    read_seconds = time.perf_counter() - started
    stored = sum(len(c.get_full()) for c in caches[:20])
    if server is not None:
        server.stop()
    return {
        "add_msgs_per_s": sessions * MESSAGES_PER_SESSION / add_seconds,
        "context_reads_per_s": sessions / read_seconds,
        "context_ms": median_ms(context),
        "full_ms": median_ms(full),
        "archive_bytes": dir_size(workdir / "lix", "*.huff") / sessions,
        "kept_of_40": stored / min(20, sessions),
    }, redis_kind


# -- codecs ----------------------------------------------------------------------------------------------------------


def frames(messages: list[dict[str, str]]) -> list[bytes]:
    out = []
    for start in range(0, len(messages) - WINDOW, WINDOW):
        chunk = messages[start : start + WINDOW]
        values = [json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode() for m in chunk]
        out.append(encode_items(list(zip(range(start + 1, start + 1 + WINDOW), values))))
    return out


def measure_codec(name: str, enc: Any, dec: Any, payloads: list[bytes]) -> dict[str, Any]:
    raw = sum(map(len, payloads))
    t = time.perf_counter()
    packed = [enc(p) for p in payloads]
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    unpacked = [dec(c, len(p)) for c, p in zip(packed, payloads)]
    decode_s = time.perf_counter() - t
    assert unpacked == payloads, name
    return {
        "codec": name,
        "ratio": raw / sum(map(len, packed)),
        "encode_mb_s": raw / encode_s / 1e6,
        "decode_mb_s": raw / decode_s / 1e6,
        "frames": len(payloads),
    }


def run_codecs(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    payloads = frames(messages)
    results = []
    try:
        from lix_open_cache.huffman_codec import HuffmanCodec

        subset = payloads[:40]  # pure Python: ~0.5 MB/s
        results.append(
            measure_codec("lix Huffman", HuffmanCodec.encode, lambda c, n: HuffmanCodec.decode(c), subset)
        )
    except ImportError:
        pass
    results.append(
        measure_codec("zlib -9", lambda p: zlib.compress(p, 9), lambda c, n: zlib.decompress(c), payloads)
    )
    for level in (3, 19):
        cctx, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
        results.append(
            measure_codec(f"zstd -{level}", cctx.compress, lambda c, n, d=dctx: d.decompress(c), payloads)
        )
    results.append(
        measure_codec(
            "ours: zstd -9 + dict",
            lambda p: compress(Codec.ZSTD_DICT_V1, p),
            lambda c, n: decompress(Codec.ZSTD_DICT_V1, c, n),
            payloads,
        )
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--lix-sessions", type=int, default=100)
    parser.add_argument(
        "--lix-redis",
        choices=("auto", "real", "fake"),
        default="auto",
        help="lix-open-cache's hot window on a redis-server started here (auto: if one can start) or fakeredis",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    messages = load_messages()
    print(
        f"{len(messages)} messages from {DATA.name}; sessions of {MESSAGES_PER_SESSION} messages, window {WINDOW}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sqlite").mkdir()
        (root / "memory").mkdir()
        (root / "lix").mkdir()
        ours_sqlite = run_ours(
            f"sqlite:///{root / 'sqlite' / 's.db'}", messages, args.sessions, root / "sqlite"
        )
        ours_memory = run_ours("memory://bench", messages, args.sessions, root / "memory")
        lix_run = run_lix(messages, args.lix_sessions, root / "lix", redis_mode=args.lix_redis)
        (root / "lix-clock").mkdir()
        lix_clock_run = run_lix(
            messages, args.lix_sessions, root / "lix-clock", clock_ids=True, redis_mode=args.lix_redis
        )
        lix, lix_redis = lix_run if lix_run is not None else (None, "")
        lix_clock = lix_clock_run[0] if lix_clock_run is not None else None

    rows = [
        (f"ours, SQLite ({args.sessions} sessions)", ours_sqlite),
        (f"ours, memory ({args.sessions} sessions)", ours_memory),
    ]
    if lix is not None and lix_clock is not None:
        rows.append((f"lix-open-cache + {lix_redis} ({args.lix_sessions} sessions)", lix))
        rows.append(("  same with its clock ids (loses messages)", lix_clock))
    print()
    header = (
        f"{'system':<48} {'add msg/s':>10} {'ctx read/s':>11} {'get_context':>12} {'full history':>13} "
        f"{'archive B/session':>18} {'kept of 40':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(
            f"{name:<48} {r['add_msgs_per_s']:>10.0f} {r['context_reads_per_s']:>11.0f} "
            f"{r['context_ms']:>10.3f}ms {r['full_ms']:>11.3f}ms {r['archive_bytes']:>18.0f} "
            f"{r.get('kept_of_40', 40.0):>11.1f}"
        )
    if lix is not None:
        print()
        for name, r in rows[:2]:
            print(
                f"{name}: add x{r['add_msgs_per_s'] / lix['add_msgs_per_s']:.1f}, get_context x"
                f"{lix['context_ms'] / r['context_ms']:.1f} faster, full history x{lix['full_ms'] / r['full_ms']:.1f} "
                f"faster, archive size {r['archive_bytes'] / lix['archive_bytes']:.2f} of lix's"
            )

    print()
    codecs = run_codecs(messages)
    print(f"{'codec (20-message frames)':<28} {'ratio':>6} {'encode MB/s':>12} {'decode MB/s':>12}")
    for c in codecs:
        print(f"{c['codec']:<28} {c['ratio']:>6.2f} {c['encode_mb_s']:>12.2f} {c['decode_mb_s']:>12.2f}")
    ours = codecs[-1]
    if codecs[0]["codec"] == "lix Huffman":
        huff = codecs[0]
        print(
            f"ours vs lix Huffman: size x{huff['ratio'] / ours['ratio']:.2f}, encode x"
            f"{ours['encode_mb_s'] / huff['encode_mb_s']:.0f}, decode x{ours['decode_mb_s'] / huff['decode_mb_s']:.0f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
