"""``lix archive``: read session archives (ours, and lix-open-cache's ``.huff``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ._common import (
    JsonOpt,
    _errors,
    _print_json,
    _role,
    _short,
    _table,
    _UserError,
    _when,
    command_group,
)

archive_app = command_group("Read session archives (.lxa, and lix-open-cache .huff).")


# -- archive ----------------------------------------------------------------------------------------------------


@archive_app.command("cat")
def archive_cat(file: Path, json_out: JsonOpt = False) -> None:
    """Decode an archive: ours (.lxa) or lix-open-cache's (.huff, recognised by its CAv1 header)."""
    from ..archive import read_archive, read_huff
    from ..archive.huff import HUFF_MAGIC

    with _errors():
        if not file.is_file():
            raise _UserError(f"{file}: no such file")
        with file.open("rb") as handle:
            head = handle.read(len(HUFF_MAGIC))
        header: dict[str, Any]
        if head == HUFF_MAGIC:
            huff = read_huff(file)
            header = {"format": "lix-open-cache .huff", **dataclasses.asdict(huff.header)}
            turns = list(huff.turns)
        else:
            contents = read_archive(file, strict=True)
            if contents is None:
                raise _UserError(f"{file}: not a lix (.lxa) or lix-open-cache (.huff) archive")
            meta = contents.meta
            header = {
                "format": f"lix archive v{meta.version}",
                "session": meta.name,
                "codec": meta.codec.name,
                "created_at": meta.created_at,
                "updated_at": meta.updated_at,
                "turns": meta.count,
                "size": meta.size,
            }
            turns = [message for _, message in contents.items]
    if json_out:
        _print_json({"header": header, "turns": turns})
        return
    from ..tiers.sessions import message_text

    _table(
        str(file), ["field", "value"], [[k, _when(v) if k.endswith("_at") else v] for k, v in header.items()]
    )
    rows = [
        [
            i,
            _role(t) if isinstance(t, dict) else "-",
            _short(message_text(t) if isinstance(t, dict) else t, 90),
        ]
        for i, t in enumerate(turns)
    ]
    _table(f"{len(turns)} turns", ["#", "role", "text"], rows)
