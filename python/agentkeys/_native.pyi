"""Type stubs for ``agentkeys._native``, the Rust half of :mod:`agentkeys`."""

from typing import List, Optional, Tuple, Union, final

__all__ = [
    "__version__",
    "Error", "ParseError", "Record", "Request", "RequestRefused", "ScriptRefused", "ServerRefused",
    "ValidationError", "encryption_key", "export_key", "file_ip", "generate_key", "import_key",
    "key_hash", "keypoll_error", "keypoll_success", "normalize_ip", "parse_keypoll_output",
    "parse_keys", "parse_reply", "scan_keys", "validate_groups", "validate_id", "validate_ip",
    "validate_key", "validate_name", "validate_script_id",
]

__version__: str

class Error(ValueError):
    """Base class of every agentkeys error.

    ``kind`` is the rule that failed, named as in Rust (``ErrorKind``) and C (``AK_…``):
    ``"InvalidName"``, ``"InvalidAddr"``, ``"UnterminatedIp"``, … ``field`` is the field concerned
    (``"name"``, ``"ip"``, …) or None, ``line`` the 1-based client.keys line or None, ``offset`` the
    byte offset in the input (in the line, for client.keys).
    """

    kind: str
    field: Optional[str]
    line: Optional[int]
    offset: Optional[int]

class ValidationError(Error):
    """A value breaks an agent rule: ID, name, address, key or groups."""

class ParseError(Error):
    """Malformed input: a client.keys line, key-poll JSON, a manager reply, Base64."""

class RequestRefused(Error):
    """A registration request a manager refuses. ``str(e)`` is upstream's error text
    (``"ERROR: Invalid agent name: x y"``) and ``reply`` the exact bytes-on-the-wire reply
    (``"… . Unable to add agent"``); ``subject`` is the value the reply quotes."""

    reply: str
    subject: str

class ServerRefused(Error):
    """The manager refused a registration; ``server_message`` is its text without ``ERROR: ``."""

    server_message: str

class ScriptRefused(Error):
    """A key-poll script answered ``{"error": code, "message": script_message}``."""

    code: int
    script_message: str

@final
class Record:
    """One agent of a client.keys file; ``str(record)`` is its line.

    ``Record(id, name, ip, key)`` validates every field (raising :class:`ValidationError`).
    ``ip`` is kept in canonical form (``"10.1.1.1/32"``, expanded upper-case IPv6); ``str()``
    writes the client.keys form. Removed agents (``ID !NAME …``) have ``removed`` True and keep
    their line verbatim. Records are immutable, hashable and compare by value.
    """

    id: str
    name: str
    ip: str
    key: str
    removed: bool
    def __new__(cls, id: str, name: str, ip: str, key: str) -> "Record": ...
    @property
    def file_ip(self) -> str:
        """The address as written to client.keys (``10.1.1.1/32`` → ``10.1.1.1``)."""
    def __hash__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Request:
    """A port-1515 registration request.

    Build one to send: ``Request("web-01", version="v4.14.7", groups="default").encode()``;
    parse one as a manager does: ``Request.parse(data, password="…", manager_version="v4.14.7")``.
    ``ip`` is None, ``"src"`` or the canonical address the agent sent.
    """

    name: str
    password: Optional[str]
    version: Optional[str]
    groups: Optional[str]
    ip: Optional[str]
    key_hash: Optional[str]
    def __new__(
        cls,
        name: str,
        *,
        password: Optional[str] = None,
        version: Optional[str] = None,
        groups: Optional[str] = None,
        ip: Optional[str] = None,
        key_hash: Optional[str] = None,
    ) -> "Request":
        """Validates the fields (raising :class:`ValidationError`)."""
    def encode(self) -> bytes:
        """The request line an agent sends, ``\\n`` included."""
    @staticmethod
    def parse(
        data: Union[bytes, bytearray, str],
        *,
        password: Union[str, bytes, None] = None,
        manager_version: Optional[str] = None,
    ) -> "Request":
        """Parses a request as a Wazuh 4.x manager does; raises :class:`RequestRefused` with the
        manager's exact reply. ``manager_version`` None accepts any agent version."""
    def address(self, source_ip: str, *, use_source_ip: bool = False) -> str:
        """The address the manager records: the ``IP:`` value, ``source_ip`` for ``IP:'src'`` or
        with ``use_source_ip``, else ``"any"``."""
    def __eq__(self, other: object, /) -> bool: ...

def parse_keys(data: Union[bytes, bytearray, str]) -> List[Record]:
    """Parses a whole client.keys in file order: comments skipped, removed agents with
    ``removed=True``. Raises :class:`ParseError`/:class:`ValidationError` (``.line`` set) at the
    first invalid line. Releases the GIL while parsing large inputs."""

def scan_keys(data: Union[bytes, bytearray, str]) -> Tuple[List[Record], List[Error]]:
    """Like :func:`parse_keys` but collects every bad line instead of raising: ``(records,
    problems)``, each problem with ``.line`` set."""

def validate_id(id: str) -> str:
    """Returns ``id`` if it is 1–8 digits and not all zeros; else raises :class:`ValidationError`."""

def validate_script_id(id: str) -> str:
    """Returns ``id`` if it is valid in a key-poll answer (3–8 digits, not all zeros); else raises
    :class:`ValidationError` (``kind`` ``"ScriptIdTooShort"`` for 1–2 digits)."""

def validate_name(name: str) -> str:
    """Returns ``name`` if it is 2–128 of ``A-Z a-z 0-9 . _ -`` not starting with ``.``."""

def validate_ip(ip: str) -> str:
    """Returns the canonical form of a valid address (``any``, IPv4/IPv6, ``/prefix`` or
    ``/netmask``)."""

def validate_key(key: str) -> str:
    """Returns ``key`` if it is 1–128 printable ASCII characters without space or ``'``."""

def validate_groups(groups: str) -> str:
    """Checks a groups string as a manager checks ``G:'…'`` and returns it de-duplicated; the
    error's ``str()`` is upstream's exact reply text."""

def normalize_ip(ip: str) -> str:
    """The canonical form used in replies: ``"::1"`` → ``"0000:…:0001"``, ``"::ffff:1.2.3.4"`` →
    ``"1.2.3.4"``, IPv4 as typed."""

def file_ip(ip: str) -> str:
    """The form written to client.keys: ``"10.1.1.1/32"`` → ``"10.1.1.1"``,
    ``"10.0.0.0/255.0.0.0"`` → ``"10.0.0.0/8"``."""

def generate_key() -> str:
    """A new agent key: 64 lowercase hex characters from the operating system's entropy."""

def key_hash(id: str, name: str, key: str) -> str:
    """The ``K:`` field of a request: lowercase hex SHA-1 of ``id + name + key``."""

def encryption_key(id: str, name: str, key: str) -> str:
    """The 47-character message-encryption key (AES-256 uses the first 32 characters)."""

def export_key(record: Record) -> str:
    """``manage_agents -e``: standard Base64 of ``"ID NAME IP KEY"``."""

def import_key(text: Union[str, bytes, bytearray]) -> Record:
    """Decodes a ``manage_agents -e`` export (white space skipped) and validates its record."""

def parse_reply(data: Union[bytes, bytearray, str]) -> Record:
    """Parses a manager's reply in the Wazuh 4.x, 3.x or OSSEC style and returns the record,
    validated as a Wazuh 4.x agent does; raises :class:`ServerRefused` when the manager refused."""

def keypoll_success(*, id: str, name: str, ip: str, key: str) -> str:
    """``{"error":0,"data":{…}}`` for a validated record."""

def keypoll_error(code: int, message: str) -> str:
    """``{"error":code,"message":"…"}``; ``code`` must not be 0."""

def parse_keypoll_output(text: Union[str, bytes, bytearray]) -> Record:
    """Parses a key-poll answer; raises :class:`ScriptRefused` for an error answer."""
