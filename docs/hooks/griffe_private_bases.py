"""Griffe extension for the API reference: a public class built on private base classes shows their public
members as its own and does not list them as bases.

The engine writes each operation once in a private base (``_EngineBase``, ``_Semantic``) that the blocking and
awaitable classes share; the reference is about what a user can call, so those members appear under the public
class (as inherited members), and "Bases: _Semantic" is not shown.
"""

from __future__ import annotations

from typing import Any

import griffe


def _private(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("_")


def _classes(obj: griffe.Object) -> Any:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            yield member
        if member.is_module or member.is_class:
            yield from _classes(member)


class InlinePrivateBases(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            if not any(_private(str(base)) for base in cls.bases):
                continue
            try:
                private = [
                    base for base in cls.resolved_bases if base.name.startswith("_")
                ]
            except griffe.AliasResolutionError:
                continue
            for base in private:
                for klass in [base, *base.mro()]:
                    if not klass.name.startswith("_"):
                        continue  # only what the private bases hold; public bases stay listed
                    for name, member in klass.members.items():
                        if not name.startswith("_") and name not in cls.members:
                            cls.set_member(
                                name,
                                griffe.Alias(
                                    name, member, parent=cls, inherited=True
                                ),
                            )
            cls.bases = [base for base in cls.bases if not _private(str(base))]
