"""Key-poll scripts: answer the manager's ``<script> id 001`` / ``<script> ip 10.0.0.5`` calls.

A key-poll script looks an unknown agent up in an external database and prints one JSON object::

    {"error": 0, "data": {"id": "001", "name": "web-01", "ip": "any", "key": "…"}}
    {"error": 4, "message": "No agent key found"}

:func:`main` does everything but the lookup::

    import agentkeys.keypoll

    def lookup(kind, value):          # kind is "id" or "ip"
        row = db.fetch(kind, value)   # None when unknown
        return row and {"id": row.id, "name": row.name, "ip": row.ip, "key": row.key}

    raise SystemExit(agentkeys.keypoll.main(lookup))

Answers (found, not found, lookup failed, invalid record) exit with status 0 so that the manager
reads and logs the JSON; only a wrong invocation exits non-zero. The JSON goes to stdout and is
flushed before any diagnostic goes to stderr, because upstream managers read both streams as one
and tolerate text *after* the JSON only.
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable, Mapping, Optional, Sequence, TextIO, Union

from ._native import (
    Error,
    Record,
    check_key_request,
    keypoll_error,
    keypoll_success,
    parse_keypoll_output,
)

#: ``error`` code: the script was called with wrong arguments.
USAGE = 2
#: ``error`` code: the agent is not in the database (as in the key polling documentation).
NOT_FOUND = 4
#: ``error`` code: the lookup raised an exception.
LOOKUP_FAILED = 5
#: ``error`` code: the lookup returned a record the manager would refuse.
INVALID_RECORD = 6

#: What a lookup may return: a :class:`~agentkeys.Record`, a mapping with ``id``, ``name``,
#: ``ip`` and ``key`` strings, or None when the agent is unknown.
LookupResult = Optional[Union[Record, Mapping[str, object]]]
Lookup = Callable[[str, str], LookupResult]

_FIELDS = ("id", "name", "ip", "key")


def success(*, id: str, name: str, ip: str, key: str) -> str:
    """The JSON of a found agent. Raises :class:`agentkeys.ValidationError` for an invalid field
    (including an ID of fewer than 3 digits, which managers refuse from scripts)."""
    return keypoll_success(id=id, name=name, ip=ip, key=key)


def error(code: int, message: str) -> str:
    """The JSON of an error answer; ``code`` must not be 0."""
    return keypoll_error(code, message)


def parse_output(text: Union[str, bytes]) -> Record:
    """Parses a script's output as the manager does. Raises :class:`agentkeys.ScriptRefused` for an
    error answer (``.code``, ``.script_message``), :class:`agentkeys.ParseError` for an answer the
    manager would reject (``.kind`` and ``.field`` say why)."""
    return parse_keypoll_output(text)


def _check_request(kind: str, value: str) -> None:
    """Raises :class:`agentkeys.ParseError` unless ``value`` is what a manager sends for ``kind``
    (the key-request rules of core, shared with the server)."""
    check_key_request(kind, value)


def _record_from(found: Union[Record, Mapping[str, object]]) -> Record:
    if isinstance(found, Record):
        return found
    values = {}
    for name in _FIELDS:
        if name not in found:
            raise ValueError(f"the lookup result has no {name!r}")
        value = found[name]
        if not isinstance(value, str):
            raise ValueError(f"the lookup result's {name!r} must be a string, not {type(value).__name__}")
        values[name] = value
    return Record(values["id"], values["name"], values["ip"], values["key"])


def _emit(out: TextIO, answer: str) -> None:
    out.write(answer + "\n")
    out.flush()


def main(
    lookup: Lookup,
    argv: Optional[Sequence[str]] = None,
    *,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
) -> int:
    """Runs a key-poll script: reads ``argv`` (default ``sys.argv[1:]``: ``id <ID>`` or
    ``ip <IP>``), calls ``lookup(kind, value)``, validates what it returns with the manager's rules
    and prints exactly one JSON answer. Returns the exit status (0 for every answer, 2 for a wrong
    invocation). Exceptions of ``lookup`` become ``{"error": 5, …}``; their traceback goes to
    stderr, never stdout."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("id", "ip"):
        _emit(out, error(USAGE, "usage: <script> id <agent ID> | <script> ip <agent IP>"))
        return 2
    kind, value = args
    try:
        _check_request(kind, value)
    except (Error, ValueError) as exc:
        _emit(out, error(USAGE, f"invalid agent {kind} {value!r}: {exc}"))
        return 2

    try:
        found = lookup(kind, value)
    except Exception as exc:  # noqa: BLE001 - every failure of the lookup becomes an answer
        _emit(out, error(LOOKUP_FAILED, f"lookup failed: {type(exc).__name__}: {exc}"))
        traceback.print_exc(file=err)
        return 0
    if found is None:
        _emit(out, error(NOT_FOUND, f"No agent key found for {kind} {value}"))
        return 0
    try:
        record = _record_from(found)
        answer = success(id=record.id, name=record.name, ip=record.ip, key=record.key)
    except (Error, ValueError) as exc:
        _emit(out, error(INVALID_RECORD, f"invalid agent record for {kind} {value}: {exc}"))
        return 0
    _emit(out, answer)
    return 0


if __name__ == "__main__":
    # ``python -m agentkeys.keypoll COMMAND [ARG…] -- id|ip VALUE``: try a key-poll script (see
    # ``python -m agentkeys``); this module is otherwise a library for writing scripts.
    from .__main__ import main as _main

    raise SystemExit(_main(["keypoll", *sys.argv[1:]]))
