"""The values the engine builds for every decision, and their one JSON codec.

Pydantic stays at the edges, where input is validated: configuration, contract
files, the canonical :class:`~slabridge.models.TicketEvent` and the actions.
What the rules and the engine build per event (verdicts, reasons, clocks, the
ticket state, the decision) is a :class:`Value`: a frozen, slotted
``msgspec.Struct``, about ten times cheaper to build than a validated model and
never validated twice. A value may hold pydantic models (the last event, the
actions); the codec has pydantic write those as JSON.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import msgspec
from pydantic import BaseModel

V = TypeVar("V", bound="Value")


class Value(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A frozen value: change one with :meth:`replace`.

    Values never take part in reference cycles, so the garbage collector leaves them
    alone (``gc=False``). Fields named in ``repr_hidden`` (texts that may hold PHI)
    are left out of ``repr``.
    """

    repr_hidden: ClassVar[frozenset[str]] = frozenset()

    def replace(self: V, **changes: Any) -> V:
        """A copy with ``changes`` applied (what ``model_copy(update=...)`` was for a model)."""
        return msgspec.structs.replace(self, **changes)

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name not in self.repr_hidden)
        return f"{type(self).__name__}({', '.join(shown)})"


def _encode_model(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode a {type(obj).__name__} as JSON")


def _decode_model(kind: type, obj: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind.model_validate(obj)
    raise TypeError(f"cannot decode a {kind!r}")


def _model_json(obj: Any) -> Any:
    """A model inside a value, as JSON text written by pydantic itself (no dict of it built in between)."""
    if isinstance(obj, BaseModel):
        return msgspec.Raw(obj.model_dump_json())
    raise TypeError(f"cannot encode a {type(obj).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_model_json)


def to_json(value: Any) -> bytes:
    """Compact JSON of values, models, and the builtins holding them: one encoder call."""
    return _ENCODER.encode(value)


def json_text(value: Any) -> str:
    """JSON text of builtins (a JSON column's value): the database columns' serializer."""
    return _ENCODER.encode(value).decode()


def from_json_text(text: str | bytes) -> Any:
    """The builtins of JSON text (a JSON column's value): the database columns' deserializer."""
    return msgspec.json.decode(text)


def to_builtins(value: Any) -> Any:
    """Dicts, lists and strings (instants in ISO 8601), as stored in a JSON column."""
    return msgspec.to_builtins(value, enc_hook=_encode_model)


def from_builtins(raw: Any, kind: type[V]) -> V:
    """The value of type ``kind`` that :func:`to_builtins` stored."""
    return msgspec.convert(raw, kind, dec_hook=_decode_model, strict=False)


def from_json(data: bytes, kind: type[V]) -> V:
    """The value of type ``kind`` that :func:`to_json` wrote."""
    return msgspec.json.decode(data, type=kind, dec_hook=_decode_model)
