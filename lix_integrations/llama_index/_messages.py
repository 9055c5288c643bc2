"""LlamaIndex ``ChatMessage`` <-> stored JSON, as the session tier's codec (translation only).

Stored as ``ChatMessage.model_dump_json()``: the same JSON object as ``model_dump(mode="json")`` (what earlier
versions stored), made in one pydantic-core call instead of a dump and a ``json.dumps`` (4.5 us instead of 9 us a
message, 2026-12-04, /tmp microbenchmark). Read with ``model_validate_json``, so every block type round-trips.

``keep`` gives what the tier remembers of a message and ``thaw`` a new message made of it: every reader gets its own
objects, so a caller changing one (``msg.content = ...``, ``msg.blocks[0].text = ...``,
``msg.additional_kwargs[...] = ...``) never changes another's. A text message (the common case) is remembered as
its strings (one string for one text block, see `_shape`) and made again by code written for its two objects;
any other is remembered as a deep clone (pydantic models cloned field by field, everything else deep-copied) and
cloned again for each reader. Both are
cheaper than validating the JSON again (7.6 us) or ``model_copy(deep=True)`` (12 us).

What is remembered is the message as any reader of the store gets it, not the object the writer sent: a sent
message that is not text only is decoded from the JSON just written (one validation per such append: a tool
call's pydantic model in ``additional_kwargs`` is read back as its dict, bytes as base64 text), and a text one
takes the fields set that reading its JSON sets. A reader in this process and one in another get equal messages,
``model_dump(exclude_unset=True)`` included.
"""

from __future__ import annotations

import copy as _copy
import json
import threading
from collections.abc import Sequence
from json.encoder import encode_basestring as _quote  # json.dumps' own, ensure_ascii=False
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import BaseModel

__all__ = ["CHAT_MESSAGES", "ChatMessageCodec"]

_set = object.__setattr__
_new = object.__new__
_IMMUTABLE = (str, int, float, bytes, type(None))


def _clone(model: BaseModel) -> Any:
    fields = model.__dict__.copy()
    for name, value in fields.items():
        if isinstance(value, _IMMUTABLE):  # str enums (MessageRole) included
            continue
        if type(value) is list:
            fields[name] = [_clone(v) if isinstance(v, BaseModel) else _copy.deepcopy(v) for v in value]
        elif type(value) is dict and not value:
            fields[name] = {}
        elif isinstance(value, BaseModel):
            fields[name] = _clone(value)
        else:
            fields[name] = _copy.deepcopy(value)
    new = _new(type(model))
    _set(new, "__dict__", fields)
    _set(new, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    extra, private = model.__pydantic_extra__, model.__pydantic_private__
    _set(new, "__pydantic_extra__", None if extra is None else _copy.deepcopy(extra))
    _set(new, "__pydantic_private__", None if private is None else _copy.deepcopy(private))
    return new


class ChatMessageCodec:
    """The session tier's codec for ``ChatMessage`` (see `MessageCodec`)."""

    def encode(self, message: ChatMessage) -> bytes:
        if not isinstance(message, ChatMessage):
            raise TypeError("messages must be a list of llama_index ChatMessage objects")
        try:
            return message.model_dump_json().encode("utf-8")
        except ValueError:  # a lone surrogate: stored as json.dumps writes it (what json.loads reads back)
            data = message.model_dump(mode="json")
            return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass"
            )

    def encode_keep(self, message: ChatMessage) -> tuple[bytes, object]:
        """``encode`` and ``keep`` in one pass. A text message's JSON is written from the strings ``keep`` took,
        byte for byte what ``model_dump_json`` writes (its escapes are ``json``'s with ``ensure_ascii=False``):
        1.8 instead of 4.3 us for ``encode`` then ``keep`` (timeit, 2026-12-04, loaded machine); the pydantic dump
        was the largest piece of an append's Python (py-spy, benchmarks/redis_chat.py async adds)."""
        if (
            type(message) is ChatMessage
        ):  # one text block and nothing else set (most messages): keep's test inline
            fields = message.__dict__
            blocks = fields.get("blocks")
            if (
                type(blocks) is list
                and len(blocks) == 1
                and len(fields) == 3
                and type(blocks[0]) is TextBlock
            ):
                block = blocks[0]
                data = block.__dict__
                text, role, kwargs = data.get("text"), fields.get("role"), fields.get("additional_kwargs")
                value = _VALUES.get(role) if type(role) is MessageRole else None
                if (
                    type(text) is str
                    and value is not None
                    and type(kwargs) is dict
                    and not kwargs
                    and len(data) == 2
                    and data.get("block_type") == "text"
                    and not message.__pydantic_extra__
                    and not message.__pydantic_private__
                    and not block.__pydantic_extra__
                    and not block.__pydantic_private__
                ):
                    kept: object = _shape(value, _READ_MESSAGE, _READ_BLOCK) + text
                    try:
                        return (_ONE_TEXT[value] + _quote(text) + "}]}").encode("utf-8"), kept
                    except UnicodeEncodeError:  # a lone surrogate: written as encode writes it
                        return self.encode(message), kept
        elif not isinstance(message, ChatMessage):
            raise TypeError("messages must be a list of llama_index ChatMessage objects")
        kept = self._text_form(message)
        if kept is None:  # not text only: remembered as any reader of the store gets it (see the docstring)
            raw = self.encode(message)
            return raw, self.decode(raw)
        if type(kept) is tuple:
            head = _HEADS.get(kept[0])
            if head is not None:
                if len(kept) == 4:
                    blocks = _TEXT_BLOCK + _quote(kept[2]) + "}"
                else:
                    blocks = ",".join([_TEXT_BLOCK + _quote(kept[i]) + "}" for i in range(2, len(kept), 2)])
                try:
                    return (head + blocks + "]}").encode("utf-8"), kept
                except UnicodeEncodeError:  # a lone surrogate: written as encode writes it
                    pass
        return self.encode(message), kept

    def decode(self, raw: bytes) -> ChatMessage:
        try:
            return ChatMessage.model_validate_json(raw)
        except ValueError:  # not strict UTF-8 (a lone surrogate, see encode): json.loads takes it
            return ChatMessage.model_validate(json.loads(raw))

    def keep(self, message: ChatMessage) -> object:
        """What the tier remembers of a message it has just decoded (`encode_keep` remembers a sent one)."""
        kept = self._text_form(message)
        return _clone(message) if kept is None else kept

    def _text_form(self, message: ChatMessage) -> object | None:
        """A text-only message as its strings (see `_shape`), as read from its JSON; ``None`` for any other."""
        fields = message.__dict__
        role = fields.get("role")
        kwargs = fields.get("additional_kwargs")
        if (
            type(message) is not ChatMessage
            or len(fields) != 3
            or type(role) is not MessageRole
            or type(kwargs) is not dict
            or kwargs
            or message.__pydantic_extra__
            or message.__pydantic_private__
        ):
            return None
        blocks: list[object] = []
        for block in fields["blocks"]:
            data = block.__dict__
            text = data.get("text")
            if (
                type(block) is not TextBlock
                or type(text) is not str
                or len(data) != 2
                or data.get("block_type") != "text"
                or block.__pydantic_extra__
                or block.__pydantic_private__
            ):
                return None
            blocks += (text, _READ_BLOCK)
        if len(blocks) == 2:  # one text block (most messages): a string, see `_shape`
            return _shape(role.value, _READ_MESSAGE, _READ_BLOCK) + blocks[0]  # type: ignore[operator]
        # One flat tuple of strings and shared tuples of names: the garbage collector stops tracking it at its
        # first collection, so a cache of thousands of messages adds nothing to the full collections (a cache of
        # cloned ChatMessages made them cost 20 us an append, 2026-12-04, gc.callbacks in the
        # benchmarks/redis_chat.py workload). A nested tuple may be promoted before it is untracked.
        return (role.value, _READ_MESSAGE, *blocks)

    def thaw(self, kept: object) -> ChatMessage:
        return self.thaw_all((kept,))[0]

    def thaw_all(self, kept: Sequence[object]) -> list[ChatMessage]:
        """New messages of what ``keep`` returned, in one loop: a chat read thaws its whole window, and one call
        per message with its lookups cost a tenth more (21.3 instead of 23.7 us for 20 messages, timeit,
        2026-12-04). A message's slots are set through their descriptors: half the time of
        ``object.__setattr__``."""
        made: list[ChatMessage] = []
        add = made.append
        new, set_dict, set_fields, set_extra, set_private = (
            _new,
            _set_dict,
            _set_fields,
            _set_extra,
            _set_private,
        )
        shapes = _SHAPES
        for one in kept:
            if type(one) is str:  # one text block, most messages (see `_shape`)
                role, names, block_names = shapes[ord(one[0])]
                message = new(ChatMessage)
                set_dict(
                    message,
                    {"role": role, "additional_kwargs": {}, "blocks": [_block(one[1:], block_names)]},
                )
                set_fields(message, set(names))
                set_extra(message, None)
                set_private(message, None)
                add(message)
                continue
            if type(one) is not tuple:
                add(_clone(one))  # type: ignore[arg-type]
                continue
            if len(one) == 4:  # one text block, most messages
                blocks = [_block(one[2], one[3])]
            else:
                blocks = [_block(one[i], one[i + 1]) for i in range(2, len(one), 2)]
            message = new(ChatMessage)
            set_dict(message, {"role": _ROLES[one[0]], "additional_kwargs": {}, "blocks": blocks})
            set_fields(message, set(one[1]))
            set_extra(message, None)
            set_private(message, None)
            add(message)
        return made


_set_dict, _set_fields, _set_extra, _set_private = (
    BaseModel.__dict__[name].__set__
    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


def _block(text: str, names: tuple[str, ...]) -> TextBlock:
    block = _new(TextBlock)
    _set_dict(block, {"block_type": "text", "text": text})
    _set_fields(block, set(names))
    _set_extra(block, None)
    _set_private(block, None)
    return block  # type: ignore[no-any-return]


_ROLES = {role.value: role for role in MessageRole}
#: A role's value by the role: ``role.value`` goes through the enum's property (0.3 us, 2026-12-05, timeit).
_VALUES: dict[MessageRole, str] = {role: role.value for role in MessageRole}
#: The JSON of a text message up to its blocks, per role (see `ChatMessageCodec.encode_keep`).
_HEADS = {value: '{"role":' + _quote(value) + ',"additional_kwargs":{},"blocks":[' for value in _ROLES}
_TEXT_BLOCK = '{"block_type":"text","text":'
#: The same up to the text of a message's one text block.
_ONE_TEXT = {value: head + _TEXT_BLOCK for value, head in _HEADS.items()}
CHAT_MESSAGES = ChatMessageCodec()
#: The fields a text message and its text block have set when read from their JSON (what `decode` sets).
_READ_MESSAGE = ("additional_kwargs", "blocks", "role")
_READ_BLOCK = ("block_type", "text")


#: Shapes of one-text-block messages: (role, the message's field-set names, its block's), by a one-character code.
#: Such a message is kept as its code followed by its text: one string, which the garbage collector does not
#: count, where a tuple per kept message was one of the objects each chat add left alive (young collections,
#: 2026-12-05, gc.get_count() over 500 LixChatStore.add_message calls; see tiers/session_cache.py `Window`).
#: A few shapes in all (one per role).
_SHAPES: list[tuple[MessageRole, tuple[str, ...], tuple[str, ...]]] = []
_SHAPE_CODES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}
_SHAPE_LOCK = threading.Lock()
#: The last shape coded per role value: (message names, block names, code); names are shared tuples
#: (`_READ_MESSAGE`, `_READ_BLOCK`), compared by identity, and a role's entry is replaced whole, so a reader never mixes two shapes.
_LAST_SHAPE: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}


def _shape(value: str, names: tuple[str, ...], block_names: tuple[str, ...]) -> str:
    last = _LAST_SHAPE.get(value)
    if last is not None and last[0] is names and last[1] is block_names:
        return last[2]
    key = (value, names, block_names)
    code = _SHAPE_CODES.get(key)
    if code is None:
        with _SHAPE_LOCK:
            code = _SHAPE_CODES.get(key)
            if code is None:
                code = chr(len(_SHAPES))
                _SHAPES.append((_ROLES[value], names, block_names))
                _SHAPE_CODES[key] = code
    _LAST_SHAPE[value] = (names, block_names, code)
    return code
