"""Turn Sphinx markup in docstrings and comments into the Markdown the API reference renders (Google style).

The docs site renders docstrings with mkdocstrings as Markdown, where a Sphinx role (``:class:`~.x.Y` ``) shows
up raw. This rewrites, in place and idempotently (run it again after adding code):

* ``:class:`~pkg.mod.Name` `` -> `` `Name` `` (``~`` keeps the last component, as Sphinx shows it);
* ``:func:`pkg.mod.name` `` -> `` `pkg.mod.name` ``, ``:meth:`.Engine.close` `` -> `` `Engine.close` ``;
* ``:class:`the engine <pkg.Engine>` `` -> `` `the engine` ``;
* a line ending in ``::`` (reST's literal block marker) -> ``:`` (an indented block is code in Markdown too).

Double backticks are left alone: ````code```` is inline code in Markdown as well.

    .venv/bin/python scripts/convert_docstring_roles.py [PATH ...]          # default: lix_integrations/
    .venv/bin/python scripts/convert_docstring_roles.py --check [PATH ...]  # exit 1 if anything would change
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const|type):`(?P<target>[^`\n]+)`")
LITERAL_MARKER = re.compile(r"(?P<text>\S)::(?P<end>\n)")
BARE_MARKER = re.compile(r"^(?P<indent>[ \t]*)::\n", re.MULTILINE)


def _shown(match: re.Match[str]) -> str:
    target = match.group("target").strip()
    titled = re.fullmatch(r"(?P<title>.+?)\s*<(?P<ref>[^>]+)>", target)
    if titled:
        return f"`{titled.group('title')}`"
    short = target.startswith("~")
    target = target.lstrip("~").lstrip(".")
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def convert(text: str) -> str:
    text = ROLE.sub(_shown, text)
    text = BARE_MARKER.sub("", text)
    return LITERAL_MARKER.sub(r"\g<text>:\g<end>", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming files to convert")
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "lix_integrations"])
    args = parser.parse_args(argv)
    files = sorted(f for p in args.paths for f in ([p] if p.is_file() else p.rglob("*.py")))
    changed = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        new = convert(text)
        if new != text:
            changed.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in changed:
        print(f"{'would convert' if args.check else 'converted'} {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
