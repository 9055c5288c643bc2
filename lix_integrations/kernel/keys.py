"""Pure key derivation: prompt normalization, digests, and what the model settings say about sampling.

Keys are digests, never raw joined strings: an ``llm_string`` may hold newlines, quotes and kilobytes of tool
schemas, and a prompt may hold a base64 image, so neither should reach a storage key as it is. Every digest is
over length-prefixed parts, so ("ab", "c") and ("a", "bc") can never collide.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["digest", "is_sampling", "normalize_prompt"]


def normalize_prompt(text: str) -> str:
    """Unicode NFC, trimmed, inner whitespace runs collapsed to one space.

    Two prompts that differ only in how they were typed (a trailing newline, a double space, a decomposed accent)
    are the same question to an LLM, so they share an exact-match key.
    """
    # ``str.split()`` splits on exactly the characters ``\s`` matches in a str pattern (``str.isspace``), and drops
    # them at both ends: what a regular expression substitution and ``strip`` did, in one pass.
    return " ".join(unicodedata.normalize("NFC", text).split())


def digest(*parts: str) -> str:
    """A 128-bit BLAKE2b hex digest of the parts, unambiguous about where each part ends."""
    chunks: list[bytes] = []
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass")
        chunks.append(len(raw).to_bytes(8, "big"))
        chunks.append(raw)
    return hashlib.blake2b(b"".join(chunks), digest_size=16).hexdigest()  # one update: the same digest


# Both shapes LangChain produces: repr of sorted items  ('temperature', 0.7)  and JSON  "temperature": 0.7
_SETTING = r"""['"]{name}['"]\s*[,:]\s*(?P<value>-?[0-9.eE+-]+)"""
#: A setting that asks for sampled output when its value exceeds the bound: temperature > 0, n > 1.
_SAMPLING = (
    (re.compile(_SETTING.format(name="temperature")), 0.0),
    (re.compile(_SETTING.format(name="n")), 1.0),
)


def is_sampling(llm_string: str) -> bool:
    """Whether the model settings ask for sampled output (temperature > 0 or n > 1).

    Providers default to a temperature of 1 when none is given, but treating every unknown as "sampling" would
    switch the policy on for every model that does not report its temperature; we only act on what is written.
    """
    for pattern, bound in _SAMPLING:
        for match in pattern.finditer(llm_string):
            try:
                if float(match.group("value")) > bound:
                    return True
            except ValueError:
                continue
    return False
