"""Type stubs for ``agentkeys._native``, the Rust half of :mod:`agentkeys`."""

from typing import Callable, List, Literal, Optional, Tuple, Union, final

__all__ = [
    "__version__", "_bearer", "_record_from_line", "_request",
    "Error", "ParseError", "Record", "Request", "RequestRefused", "ScriptRefused", "ServerRefused",
    "ValidationError", "encryption_key", "export_key", "file_ip", "generate_key", "import_key",
    "key_hash", "keypoll_error", "keypoll_success", "normalize_ip", "parse_keypoll_output",
    "parse_keys", "parse_reply", "scan_keys", "validate_groups", "validate_id", "validate_ip",
    "validate_key", "validate_name", "validate_script_id",
    "BearerRefused", "Bearer", "Token", "EnrollRequest", "derive_key", "sign_bearer", "peek_bearer",
    "verify_bearer", "decode_token", "encode_token", "parse_enroll_request", "parse_enroll_reply",
    "format_enroll_reply", "format_enroll_error", "spki_pin", "pin_text", "token_id_text", "check_key_request",
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
    """One agent of a client.keys file: ``str(record)`` is its line.

    ``Record(id, name, ip, key)`` validates every field; ``ip`` is kept in canonical form
    (``"10.1.1.1/32"``, expanded IPv6) and written in client.keys form by ``str()``.
    Removed agents (``ID !NAME …`` lines) have ``removed == True`` and keep their line verbatim."""

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

    __match_args__ = ("id", "name", "ip", "key")
    def __reduce__(self) -> Tuple[object, Tuple[object, ...]]:
        """Pickles the value (it is rebuilt, validated, on unpickling)."""
    def __copy__(self) -> "Record":
        """The value itself: it is immutable."""
    def __deepcopy__(self, memo: object, /) -> "Record":
        """The value itself: it is immutable."""
@final
class Request:
    """A registration request, as an agent sends it on port 1515.

    Build one to send (``Request(name, version="v4.14.7", groups="default").encode()``) or parse
    one as a manager does (``Request.parse(data, password=…, manager_version=…)``)."""

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
        """Create and return a new object.  See help(type) for accurate signature."""
    def encode(self) -> bytes:
        """The request line an agent sends, ``\\n`` included."""
    @staticmethod
    def parse(
        data: Union[bytes, bytearray, str],
        *,
        password: Union[str, bytes, None] = None,
        manager_version: Optional[str] = None,
    ) -> "Request":
        """Parses a request exactly as a Wazuh 4.x manager does. ``password`` is the manager's
        password (None: no password); ``manager_version`` enables the ``V:`` check (None accepts any
        version). Raises ``RequestRefused`` whose ``.reply`` is the manager's exact reply."""
    def address(self, source_ip: str, *, use_source_ip: bool = False) -> str:
        """The address a manager records for this request, given the connection's source address:
        the ``IP:`` value, the source for ``IP:'src'`` or with ``use_source_ip``, else ``"any"``."""
    def __eq__(self, other: object, /) -> bool: ...

    __match_args__ = ("name",)
    def __reduce__(self) -> Tuple[object, Tuple[object, ...]]:
        """Pickles the value (it is rebuilt, validated, on unpickling)."""
    def __copy__(self) -> "Request":
        """The value itself: it is immutable."""
    def __deepcopy__(self, memo: object, /) -> "Request":
        """The value itself: it is immutable."""
def parse_keys(data: Union[bytes, bytearray, str]) -> List[Record]:
    """Parses a whole client.keys (``bytes`` or ``str``) into records, in file order. Comments are
    skipped; removed agents come back with ``removed=True``. Raises ``ParseError`` (with ``.line``,
    1-based, and ``.kind`` naming the rule) at the first invalid line. The GIL is released while large inputs are parsed."""

def scan_keys(data: Union[bytes, bytearray, str]) -> Tuple[List[Record], List[Error]]:
    """Parses a whole client.keys without stopping: returns ``(records, problems)`` where every
    problem is a ``ParseError`` instance with ``.line`` set."""

def validate_id(id: str) -> str:
    """Returns ``id`` if it is a valid agent ID (1–8 digits, not all zeros), else raises
    ``ValidationError``."""

def validate_script_id(id: str) -> str:
    """Returns ``id`` if it is a valid ID for a key-poll answer (3–8 digits), else raises
    ``ValidationError``."""

def validate_name(name: str) -> str:
    """Returns ``name`` if it is a valid agent name, else raises ``ValidationError``."""

def validate_ip(ip: str) -> str:
    """Returns the canonical form of a valid agent address, else raises ``ValidationError``."""

def validate_key(key: str) -> str:
    """Returns ``key`` if it is a valid agent key, else raises ``ValidationError``."""

def validate_groups(groups: str) -> str:
    """Checks a groups string as a manager checks ``G:'…'`` and returns it de-duplicated. Raises
    ``ValidationError`` whose ``str()`` is upstream's exact reply text."""

def normalize_ip(ip: str) -> str:
    """The canonical form of an address: what replies carry (``::1`` → expanded upper-case IPv6,
    ``::ffff:1.2.3.4`` → ``1.2.3.4``, IPv4 as typed)."""

def file_ip(ip: str) -> str:
    """The form of an address written to client.keys (``10.1.1.1/32`` → ``10.1.1.1``,
    ``10.0.0.0/255.0.0.0`` → ``10.0.0.0/8``)."""

def generate_key() -> str:
    """A new agent key: 64 lowercase hex characters from the operating system's entropy."""

def key_hash(id: str, name: str, key: str) -> str:
    """The ``K:`` key hash: lowercase hex SHA-1 of ``id + name + key``."""

def encryption_key(id: str, name: str, key: str) -> str:
    """The 47-character message-encryption key of a record (AES-256 uses its first 32 characters)."""

def export_key(record: Record) -> str:
    """The ``manage_agents -e`` export of a record: standard Base64 of ``ID NAME IP KEY``."""

def import_key(text: Union[str, bytes, bytearray]) -> Record:
    """Decodes a ``manage_agents -e`` export and validates its record."""

def parse_reply(data: Union[bytes, bytearray, str]) -> Record:
    """Parses a manager's reply (Wazuh 4.x, 3.x or OSSEC style) and returns the record, validated as a
    Wazuh 4.x agent does. Raises ``ServerRefused`` (``.server_message``) when the manager refused,
    ``ParseError`` when the reply is malformed or its record invalid."""

def keypoll_success(*, id: str, name: str, ip: str, key: str) -> str:
    """A key-poll success answer: ``{"error":0,"data":{…}}``."""

def keypoll_error(code: int, message: str) -> str:
    """A key-poll error answer: ``{"error":N,"message":"…"}`` (N must not be 0)."""

def check_key_request(kind: str, value: str) -> str:
    """Checks a key request as remoted sends it (``kind`` ``"id"`` or ``"ip"``): an ID of 1–8 digits
    or one IP address. Returns the value a key-poll script receives (IDs as written, addresses in
    the manager's form). Raises :class:`ParseError` (``kind`` ``"InvalidKeyRequest"`` or
    ``"TooLong"``)."""

def parse_keypoll_output(text: Union[str, bytes, bytearray]) -> Record:
    """Parses a key-poll script's output into a record. Raises ``ScriptRefused`` (``.code``,
    ``.script_message``) for an error answer, ``ParseError`` for anything the manager would reject."""

# Wazuh 5.0 enrollment (public as ``agentkeys.wazuh5``).

class BearerRefused(Error):
    """An enroll bearer a Wazuh 5.0 manager refuses. ``bearer_class`` is the class it answers
    with: ``"invalid_request"``, ``"invalid_signature"``, ``"stale_token"``, ``"unknown_agent"``,
    ``"token_expired"``, ``"token_revoked"`` or ``"enrollment_key_unavailable"``."""

    bearer_class: str

@final
class Bearer:
    """What a bearer says about its signer: ``kind`` is ``"password"``, ``"token"`` or ``"reenroll"``
    and ``kid`` the token ID text or agent ID (None for the password). After
    :func:`verify_bearer`, ``iat``, ``exp``, ``nbf`` and ``jti`` hold the claims (else None)."""

    @property
    def kind(self) -> Literal["password", "token", "reenroll"]: ...
    @property
    def kid(self) -> Optional[str]: ...
    @property
    def iat(self) -> Optional[int]: ...
    @property
    def exp(self) -> Optional[int]: ...
    @property
    def nbf(self) -> Optional[int]: ...
    @property
    def jti(self) -> Optional[bytes]: ...
    def __eq__(self, other: object, /) -> bool: ...

    __match_args__ = ("kind", "kid")
    def __reduce__(self) -> Tuple[object, Tuple[object, ...]]:
        """Pickles the value (it is rebuilt, validated, on unpickling)."""
    def __copy__(self) -> "Bearer":
        """The value itself: it is immutable."""
    def __deepcopy__(self, memo: object, /) -> "Bearer":
        """The value itself: it is immutable."""
@final
class Token:
    """A decoded enrollment token. ``host`` is the DNS name or address (IPv6 without brackets),
    ``address`` the whole ``host[:port][/prefix]`` as the token writes it; exactly one of ``pin``
    (32 bytes) and ``ca`` (PEM) is set; ``token_id`` (the bearer ``kid``), ``secret`` (16 bytes) and
    ``credential`` (the password for port 1515) are None for a token without credential."""

    @property
    def host(self) -> str: ...
    @property
    def zone(self) -> Optional[str]: ...
    @property
    def port(self) -> int: ...
    @property
    def prefix(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def pin(self) -> Optional[bytes]: ...
    @property
    def ca(self) -> Optional[str]: ...
    @property
    def token_id(self) -> Optional[str]: ...
    @property
    def secret(self) -> Optional[bytes]: ...
    @property
    def credential(self) -> Optional[str]: ...
    @property
    def enroll_url(self) -> str:
        """The URL of the enrollment endpoint (``https://host:port/prefix/enroll``)."""
    def show(self) -> str:
        """The token as upstream's ``--show-token`` prints it (never the secret)."""
    def encode(self) -> str:
        """The token's text."""
    def __eq__(self, other: object, /) -> bool: ...

    __match_args__ = ("host", "port", "prefix")
    def __reduce__(self) -> Tuple[object, Tuple[object, ...]]:
        """Pickles the value (it is rebuilt, validated, on unpickling)."""
    def __copy__(self) -> "Token":
        """The value itself: it is immutable."""
    def __deepcopy__(self, memo: object, /) -> "Token":
        """The value itself: it is immutable."""
@final
class EnrollRequest:
    """A parsed ``/enroll`` request body. ``ip`` is None, ``"src"`` or the canonical address."""

    def __new__(
        cls,
        name: str,
        version: str,
        groups: Optional[str] = None,
        ip: Optional[str] = None,
        key_hash: Optional[str] = None,
    ) -> "EnrollRequest":
        """Create and return a new object.  See help(type) for accurate signature."""
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def groups(self) -> Optional[str]: ...
    @property
    def ip(self) -> Optional[str]: ...
    @property
    def key_hash(self) -> Optional[str]: ...
    def encode(self) -> bytes:
        """The compact JSON body."""
    def __eq__(self, other: object, /) -> bool: ...

    __match_args__ = ("name", "version", "groups", "ip", "key_hash")
    def __reduce__(self) -> Tuple[object, Tuple[object, ...]]:
        """Pickles the value (it is rebuilt, validated, on unpickling)."""
    def __copy__(self) -> "EnrollRequest":
        """The value itself: it is immutable."""
    def __deepcopy__(self, memo: object, /) -> "EnrollRequest":
        """The value itself: it is immutable."""
_Bytes = Union[bytes, bytearray, str]

def derive_key(label: Literal["password", "token", "reenroll"], secret: _Bytes) -> bytes:
    """The 32-byte HMAC key of an enroll JWT, derived (HKDF-SHA256, as Wazuh 5.0) from ``secret``:
    the password's bytes (``label="password"``), a token's 16-byte secret (``"token"``) or an
    agent's 32-byte re-enrollment secret (``"reenroll"``)."""

def sign_bearer(
    key: _Bytes, kid: Optional[str] = None, iat: Optional[int] = None, jti: Optional[_Bytes] = None
) -> str:
    """Signs an enroll JWT with ``key`` (32 bytes): ``kid`` is a token ID or an agent ID (None for
    password mode), ``iat`` defaults to now and ``jti`` to 16 random bytes."""

def peek_bearer(bearer: _Bytes) -> Bearer:
    """Reads a bearer's header without verifying it: whose key signed it. Raises
    :class:`BearerRefused` (``bearer_class == "invalid_request"``) for a malformed bearer."""

def verify_bearer(
    bearer: _Bytes,
    key: Union[_Bytes, Callable[[Bearer], _Bytes]],
    now: Optional[int] = None,
    max_age: int = 60,
    skew: int = 30,
) -> Bearer:
    """Verifies a bearer: ``key`` is the 32-byte key, or a callable given the peeked
    :class:`Bearer` that returns it (or raises). Checks the MAC in constant time and the window
    (``iat`` ≤ now + skew, now ≤ ``exp`` + skew, now − ``iat`` ≤ max_age + skew). Raises
    :class:`BearerRefused` whose ``bearer_class`` is ``"invalid_request"``,
    ``"invalid_signature"`` or ``"stale_token"``."""

def decode_token(token: _Bytes) -> Token:
    """Decodes an enrollment token. Raises :class:`ParseError` naming the member and byte
    (``kind`` ``"InvalidToken"``, ``"UnsupportedTokenVersion"``, ``"InvalidTokenAddress"``,
    ``"TokenAnchor"``, ``"InvalidPin"``, ``"InvalidTokenKey"``)."""

def encode_token(
    address: str,
    pin: Optional[_Bytes] = None,
    ca: Optional[str] = None,
    token_id: Optional[str] = None,
    secret: Optional[_Bytes] = None,
) -> str:
    """Encodes a token for ``address`` (``host[:port][/prefix]``), anchored by ``pin`` (32 bytes) or
    ``ca`` (PEM), with a credential when ``token_id`` (22-character text) and ``secret`` (16 bytes)
    are given. Raises :class:`ValidationError`."""

def parse_enroll_request(body: _Bytes) -> EnrollRequest:
    """Parses an ``/enroll`` request body (decompressed). Raises :class:`ParseError` or
    :class:`ValidationError` whose ``http_message`` is the exact 400 message Wazuh 5.0 answers
    (``"Missing or invalid field: name"``, ``"Malformed JSON body"``, …)."""

def parse_enroll_reply(body: _Bytes) -> Tuple[Record, Optional[bytes]]:
    """Parses an ``/enroll`` 200 body: ``(record, reenroll_secret)`` with the validated
    :class:`~agentkeys.Record` and the 32-byte secret or None."""

def format_enroll_reply(record: Record, reenroll_secret: Optional[_Bytes] = None) -> bytes:
    """Writes an ``/enroll`` 200 body for ``record`` and, if given, its 32-byte ``reenroll_secret``."""

def format_enroll_error(code: Union[str, int], message: str) -> bytes:
    """Writes an ``/enroll`` error body: ``{"error":{"code":<code>,"message":"…"}}``; ``code`` is a
    class string or an integer."""

def spki_pin(spki_der: _Bytes) -> bytes:
    """SHA-256 of a DER SubjectPublicKeyInfo: the pin of a CA."""

def pin_text(pin: _Bytes) -> str:
    """A pin as a token writes it: 43 characters of unpadded base64url."""

def token_id_text(raw: _Bytes) -> str:
    """A 16-byte enrollment token ID as tokens and bearers (`kid`) write it: 22 characters of
    unpadded base64url."""

def _record_from_line(line: str) -> Record:
    """Rebuilds a pickled record from its client.keys line."""

def _request(
    name: str,
    password: Optional[str],
    version: Optional[str],
    groups: Optional[str],
    ip: Optional[str],
    key_hash: Optional[str],
) -> Request:
    """Rebuilds a pickled request from its fields."""

def _bearer(
    kind: str,
    kid: Optional[str],
    iat: Optional[int],
    exp: Optional[int],
    nbf: Optional[int],
    jti: Optional[bytes],
) -> Bearer:
    """Rebuilds a pickled bearer description from its fields."""
