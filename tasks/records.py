"""Reading a cached stage's result record without trusting it: JSON only, tunegate's own classes only.

A Prefect 3 result record is a JSON file whose ``metadata.serializer`` says how to load its ``result``; Prefect
believes it, so a record that says "pickle" is unpickled, and a "json" record may name any ``object_decoder``
or ``__class__`` to import and call. The records live in ``<work_dir>/prefect-results``, which more people can
write to than can change the code. ``load_record`` therefore parses the file with the standard library alone,
accepts it only when its serializer is exactly the one tunegate writes with (``tasks.caching.RESULT_SERIALIZER``)
and decodes the result with ``decode_object``, which builds only pydantic models defined in ``tasks`` and a few
plain value types. The cache policy (``tasks/caching.py``) hands Prefect only a key whose record passed here.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

# Plain value types the JSON encoder may tag (a Path or a datetime inside a result); built by pydantic.
VALUE_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.PurePosixPath", "datetime.datetime",
                         "datetime.date", "datetime.timedelta", "uuid.UUID", "decimal.Decimal"})


class UnsafeRecord(ValueError):
    """A result record tunegate did not write as JSON, or one that names something it does not build."""


def _allowed_class(name: str) -> type:
    from pydantic import BaseModel

    module, _, attr = name.rpartition(".")
    if name not in VALUE_TYPES and not module.startswith("tasks."):
        raise UnsafeRecord(f"result names class {name!r}, which is not tunegate's")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise UnsafeRecord(f"result names class {name!r}, which does not exist") from None
    if name not in VALUE_TYPES and not (isinstance(cls, type) and issubclass(cls, BaseModel)
                                        and cls.__module__.startswith("tasks.")):
        raise UnsafeRecord(f"result names {name!r}, which is not one of tunegate's models")
    return cls


def decode_object(obj: dict[str, Any]) -> Any:
    """``json`` object hook for tunegate's records: ``{"__class__": ..., "data": ...}`` becomes that model, when
    it is one of tunegate's pydantic models (or a plain value type); anything else tagged is refused."""
    if "__exc_type__" in obj:
        raise UnsafeRecord("result is an exception; cached records hold results only")
    if "__class__" not in obj:
        return obj
    from pydantic import TypeAdapter

    return TypeAdapter(_allowed_class(str(obj["__class__"]))).validate_python(obj.get("data"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):  # two parsers could disagree on which one counts
        raise UnsafeRecord("record repeats a key")
    return dict(pairs)


def load_record(content: bytes, serializer: dict[str, Any]) -> Any:
    """The result held in record ``content``, if the record was written with ``serializer`` (as a JSON dict);
    UnsafeRecord for any other serializer, a repeated key, an exception or a class outside tunegate."""
    try:
        record = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicates)
        found = record["metadata"]["serializer"]
        result = record["result"]
    except UnsafeRecord:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise UnsafeRecord("not a result record") from None
    if found != serializer:
        kind = found.get("type") if isinstance(found, dict) else type(found).__name__
        raise UnsafeRecord(f"record asks for serializer {kind!r} with other settings than tunegate writes")
    if not isinstance(result, str):
        raise UnsafeRecord("record's result is not JSON text")
    try:
        return json.loads(result, object_hook=decode_object)
    except UnsafeRecord:
        raise
    except ValueError as e:  # bad JSON, or a model that does not validate
        raise UnsafeRecord(f"record's result does not load ({type(e).__name__})") from None
