"""Ops share their addressing fields through a base per domain; the bases are never sent, and field order (which
positional construction relies on) is the one the ops always had."""

from __future__ import annotations

from dataclasses import fields

from lix_integrations.kernel import kv_ops, list_ops, ops, semantic_ops
from lix_integrations.kernel.op import NamespaceOp


def _names(kind: type) -> list[str]:
    return [f.name for f in fields(kind)]


def test_bases_are_not_storage_ops_and_every_exported_op_is() -> None:
    bases = {NamespaceOp, kv_ops.KvOp, kv_ops.KvWrite, list_ops.ListOp, list_ops.ListWrite}
    bases |= {semantic_ops.Matching, semantic_ops.ByIds, semantic_ops.Lease}
    assert not bases & set(ops.STORAGE_OPS)
    for module in (kv_ops, list_ops, semantic_ops):
        exported = {kind for kind in map(vars(module).get, module.__all__) if isinstance(kind, type)}
        declared = {
            kind
            for kind in vars(module).values()
            if isinstance(kind, type) and issubclass(kind, ops.Op) and kind.__module__ == module.__name__
        }
        assert declared - bases == {kind for kind in exported if kind in declared}
        assert declared - bases <= set(ops.STORAGE_OPS)


def test_fields_keep_their_order_and_namespace_comes_first() -> None:
    assert _names(kv_ops.KvPutIf) == ["namespace", "table", "items", "now", "key", "value"]
    assert _names(kv_ops.KvPurgeExpired) == ["namespace", "table", "now"]
    assert _names(list_ops.ListAppend) == [
        "namespace", "key", "values", "now", "min_seq", "create", "archived_through"
    ]  # fmt: skip
    assert _names(list_ops.ListReplace) == ["namespace", "key", "values", "now", "min_seq"]
    assert _names(semantic_ops.ScanEntries) == ["namespace", "scope", "llm_key", "after_id", "limit"]
    assert _names(semantic_ops.Touch) == ["namespace", "ids", "now"]
    assert _names(semantic_ops.LeaseAcquire) == ["namespace", "key", "token", "ttl"]
    for kind in ops.STORAGE_OPS:
        if issubclass(kind, NamespaceOp):
            assert _names(kind)[0] == "namespace", kind


def test_positional_and_keyword_construction_agree() -> None:
    item = kv_ops.KvItem("k", b"v")
    assert kv_ops.KvPutIf("n", "t", (item,), 1.0, "g", b"1") == kv_ops.KvPutIf(
        namespace="n", table="t", items=(item,), now=1.0, key="g", value=b"1"
    )
    assert list_ops.ListAppend("n", "s", (b"a",), 2.0, 5) == list_ops.ListAppend(
        namespace="n", key="s", values=(b"a",), now=2.0, min_seq=5, create=True
    )
    assert not hasattr(kv_ops.KvGet("n", "t", ("k",), 0.0), "__dict__")  # slots all the way down
