"""Generate the blocking twin of an awaitable module: ``async``/``await`` dropped, a table of names swapped.

Run from the repository root after changing a source file: ``python scripts/unasync.py``. The generated files say
so in their first lines, and ``tests/unit/test_generated_code.py`` fails when one is not current.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (awaitable source, blocking file generated from it)
FILES = [
    ("lix_integrations/backends/redis/executor_async.py", "lix_integrations/backends/redis/executor_sync.py")
]

#: Awaitable name -> blocking name, swapped as whole words.
RENAMES = {
    "AsyncExecutor": "SyncExecutor",
    "AsyncIO": "SyncIO",
    "arun": "run",
    "arun_gather": "run_gather",
    "aflush": "flush",
    "_aflush_once": "_flush_once",
    "_aguarded": "_guarded",
    "_arun_once": "_run_once",
    "_arun_many": "_run_many",
    "aclient": "client",
    "_ascan": "_scan",
    "adispatch": "dispatch",
    "adispatch_pinned": "dispatch_pinned",
    "asend_now": "send_now",
    "atake": "take",
    "agive": "give",
    "_acluster_pipe": "_cluster_pipe",
    "_afinish": "_finish",
    "_asingle": "_single",
    "_aeval_or_error": "_eval_or_error",
    "_aread": "_read",
    "aread_replies": "read_replies",
    "aexchange": "exchange",
    "awaiting each round trip": "blocking on each round trip",
}


def _ruff() -> str:
    here = Path(sys.executable).with_name("ruff")
    found = str(here) if here.exists() else shutil.which("ruff")
    if found is None:
        raise SystemExit("ruff is needed to format the generated code (pip install ruff)")
    return found


def generate(source: str, target: str) -> str:
    """The blocking module's text, formatted as the repository formats code."""
    text = (ROOT / source).read_text(encoding="utf-8")
    text = re.sub(r"\basync def\b", "def", text)
    text = re.sub(r"\basync for\b", "for", text)
    text = re.sub(r"\basync with\b", "with", text)
    text = re.sub(r"\bawait ", "", text)
    for old, new in sorted(RENAMES.items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"(?<![\w]){re.escape(old)}(?![\w])", new, text)
    header = (
        f"# Generated from {source} by scripts/unasync.py: do not edit.\n"
        "# Change the awaitable file and run `python scripts/unasync.py`; a unit test checks this file is current.\n"
    )
    formatted = subprocess.run(
        [_ruff(), "format", "--stdin-filename", str(ROOT / target), "-"],
        input=header + text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return formatted.stdout


def main() -> None:
    for source, target in FILES:
        (ROOT / target).write_text(generate(source, target), encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
