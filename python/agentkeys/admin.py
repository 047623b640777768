"""A client of the running server's admin socket (``queue/sockets/auth``): change agents and
enrollment tokens through the server, as the Wazuh API and ``agentkeys agents`` do, instead of
writing client.keys behind its back.

>>> from agentkeys.admin import Admin                      # doctest: +SKIP
>>> admin = Admin("/var/ossec")                            # doctest: +SKIP
>>> record = admin.add("web-01", ip="10.0.0.5")            # doctest: +SKIP
>>> admin.get(record.id).name                              # doctest: +SKIP
'web-01'

Every call is one request on its own connection (4-byte little-endian length, then JSON, both
ways). A refusal raises :class:`AdminError` with the server's code and message.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ._native import Record

PathLike = Union[str, "os.PathLike[str]"]

#: Largest answer read (the server's batch answers stay far below it).
MAX_ANSWER = 64 << 20


class AdminError(Exception):
    """The server refused a request: ``code`` is its admin code (9001–9032), ``message`` its text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (error {code})")
        self.code = code
        self.message = message


class Admin:
    """The admin socket of the server running on ``home`` (or the socket ``socket_path``)."""

    def __init__(self, home: PathLike = "agentkeys-data", *, socket_path: Optional[PathLike] = None,
                 timeout: float = 30.0) -> None:
        self.home = Path(home)
        self.socket_path = Path(socket_path) if socket_path is not None else self.home / "queue" / "sockets" / "auth"
        self.timeout = timeout

    def call(self, function: str, arguments: Optional[Dict[str, Any]] = None) -> Any:
        """Sends ``{"function", "arguments"}`` and returns the answer's ``data``; raises
        :class:`AdminError` for a refusal, ``OSError`` when the socket cannot be reached."""
        request: Dict[str, Any] = {"function": function}
        if arguments is not None:
            request["arguments"] = arguments
        answer = self._exchange(json.dumps(request).encode())
        if not isinstance(answer, dict) or answer.get("error") != 0:
            code = answer.get("error", 9001) if isinstance(answer, dict) else 9001
            message = answer.get("message", "unexpected answer") if isinstance(answer, dict) else str(answer)
            raise AdminError(int(code), str(message))
        return answer.get("data")

    def _exchange(self, payload: bytes) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(self.timeout)
            conn.connect(str(self.socket_path))
            conn.sendall(struct.pack("<I", len(payload)) + payload)
            (length,) = struct.unpack("<I", self._read(conn, 4))
            if length > MAX_ANSWER:
                raise OSError(f"answer of {length} bytes from {self.socket_path} is too large")
            return json.loads(self._read(conn, length))

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("the server closed the admin connection before answering")
            data += chunk
        return data

    @staticmethod
    def _record(data: Dict[str, Any]) -> Record:
        return Record(str(data["id"]), str(data["name"]), str(data["ip"]), str(data["key"]))

    def add(self, name: str, ip: str = "any", *, id: Optional[str] = None, key: Optional[str] = None,
            groups: Optional[str] = None) -> Record:
        """Adds an agent (a new ID and key unless given); its record."""
        args: Dict[str, Any] = {"name": name, "ip": ip}
        for member, value in (("id", id), ("key", key), ("groups", groups)):
            if value is not None:
                args[member] = value
        return self._record(self.call("add", args))

    def remove(self, id: str, *, purge: bool = False) -> None:
        """Removes an agent (``purge``: leave no ``!`` line)."""
        self.call("remove", {"id": id, "purge": purge})

    def get(self, id: str) -> Record:
        """One agent's record."""
        return self._record(self.call("get", {"id": id}))

    def rekey(self, id: str) -> Record:
        """Gives an agent a new key; its new record."""
        return self._record(self.call("rekey", {"id": id}))

    def list(self) -> List[Record]:
        """The active agents, read from the home's client.keys (the server keeps it current)."""
        from ._native import parse_keys

        data = (self.home / "etc" / "client.keys").read_bytes()
        return [r for r in parse_keys(data) if not r.removed]

    def token_create(self, address: str, **options: Any) -> Dict[str, Any]:
        """Mints an enrollment token (``port``, ``prefix``, ``ttl``, ``max_uses``,
        ``description``, ``embed_ca``, ``no_credential``, ``groups``, ``sources``,
        ``allow_loopback``): ``{"token", "id", "adr", "expires", "pin_hex"}``."""
        result: Dict[str, Any] = self.call("token_create", {"address": address, **options})
        return result

    def token_list(self) -> List[Dict[str, Any]]:
        """Every token, without secrets."""
        result: List[Dict[str, Any]] = self.call("token_list")
        return result

    def token_revoke(self, id: str) -> bool:
        """Revokes a token; whether it changed (revoking twice is not an error)."""
        return bool(self.call("token_revoke", {"id": id})["changed"])

    def token_purge(self, *, all: bool = False) -> int:
        """Drops expired, revoked and used-up tokens (every token with ``all``); how many."""
        return int(self.call("token_purge", {"status": "all" if all else "dead"})["purged"])

    def stats(self) -> Dict[str, Any]:
        """The server's counters (registrations by protocol and outcome, token uses, …)."""
        result: Dict[str, Any] = self.call("stats")
        return result
