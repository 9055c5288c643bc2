"""The form of every table of namespaced records in the SQLite backend, declared once."""

from __future__ import annotations

__all__ = ["namespaced_table"]


def namespaced_table(name: str, key: tuple[str, ...], *columns: str) -> str:
    """``CREATE TABLE`` of records that each belong to one namespace, addressed as the storage ops address them
    (`lix_integrations.kernel.op.NamespaceOp`: a KV record by namespace, table and key, a list by namespace and
    key). ``namespace`` is the first column and leads the primary key, then the ``key`` columns (``"name TYPE"``,
    never null), so each statement of an op reads or writes one range of one namespace and never sees another's
    rows; ``WITHOUT ROWID``: the primary key orders the table. ``columns``: the others, as SQL declares them."""
    declared = ["namespace TEXT NOT NULL", *(f"{column} NOT NULL" for column in key), *columns]
    primary = ", ".join(["namespace", *(column.split()[0] for column in key)])
    body = "".join(f"    {column},\n" for column in declared)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n{body}    PRIMARY KEY ({primary})) WITHOUT ROWID;\n"
