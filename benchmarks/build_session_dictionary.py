"""Rebuild the zstd dictionary the session archive ships (``lix_integrations/archive/session_dict_v1.zstd``).

Why a dictionary: archive frames are small (about 20 messages), too small for a compressor to learn the text's
statistics on its own; a dictionary primes it with common words and the JSON shapes of chat messages.

Reproducible and independent of the benchmark: it is trained (single-threaded, deterministic) only on the
sentence-pair corpora in ``benchmarks/data/pairs/`` (QQP, MRPC, PAWS, GPTCache), cast as user/assistant turns in the
three message shapes the adapters store (plain role/content, LangChain ``message_to_dict``, LlamaIndex
``model_dump``). The conversations the session benchmark measures on are never seen. The shipped file must not
change once archives use it (its zstd dictionary id is in every archive header); a new one gets a new name.

    .venv/bin/python benchmarks/build_session_dictionary.py [--check]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import zstandard

DATA = Path(__file__).resolve().parent / "data" / "pairs"
TARGET = Path(__file__).resolve().parents[1] / "lix_integrations" / "archive" / "session_dict_v1.zstd"
SIZE = 64 * 1024
FILES = ("qqp_dev", "mrpc_dev", "paws_dev", "gptcache_dev")


def _shape(role: str, text: str, style: int) -> dict[str, object]:
    if style == 0:
        return {"role": role, "content": text}
    if style == 1:
        kind = "human" if role == "user" else "ai"
        data: dict[str, object] = {
            "content": text,
            "additional_kwargs": {},
            "response_metadata": {},
            "type": kind,
            "name": None,
            "id": None,
        }
        if kind == "ai":
            data.update(tool_calls=[], invalid_tool_calls=[], usage_metadata=None)
        return {"type": kind, "data": data}
    return {"role": role, "additional_kwargs": {}, "blocks": [{"block_type": "text", "text": text}]}


def samples() -> list[bytes]:
    turns: list[str] = []
    for name in FILES:
        for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            pair = json.loads(line)
            turns += [pair["q1"], pair["q2"]]
    out: list[bytes] = []
    for group, start in enumerate(range(0, len(turns), 6)):
        items = []
        for offset, text in enumerate(turns[start : start + 6]):
            role = "user" if offset % 2 == 0 else "assistant"
            message = json.dumps(_shape(role, text, group % 3), ensure_ascii=False, separators=(",", ":"))
            items.append(f"[{start + offset + 1},{message}]")
        out.append(("[" + ",".join(items) + "]").encode("utf-8"))
    return out


def build() -> bytes:
    return zstandard.train_dictionary(SIZE, samples(), threads=1).as_bytes()


if __name__ == "__main__":
    data = build()
    digest = hashlib.sha256(data).hexdigest()
    if "--check" in sys.argv:
        same = TARGET.read_bytes() == data
        print(f"rebuilt sha256 {digest}; shipped file {'matches' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes, sha256 {digest})")
