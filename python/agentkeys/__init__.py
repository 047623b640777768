"""agentkeys: agent registration for Wazuh and OSSEC.

Parse, validate and write ``client.keys``, registration requests and replies (port 1515), and
key-poll answers, with exactly the rules of the Wazuh 4.x manager. Every rule is implemented once,
in Rust, and shared with the C library and the ``agentkeys`` server.

>>> import agentkeys
>>> [r.name for r in agentkeys.parse_keys(b"001 web-01 any 0123abcd\\n")]
['web-01']
>>> agentkeys.normalize_ip("::1")
'0000:0000:0000:0000:0000:0000:0000:0001'
"""

from ._native import (
    Error,
    ParseError,
    Record,
    Request,
    RequestRefused,
    ScriptRefused,
    ServerRefused,
    ValidationError,
    __version__,
    encryption_key,
    export_key,
    file_ip,
    generate_key,
    import_key,
    key_hash,
    normalize_ip,
    parse_keys,
    parse_reply,
    validate_groups,
    validate_id,
    validate_ip,
    validate_key,
    validate_name,
    validate_script_id,
)
from typing import TYPE_CHECKING

from . import wazuh5
from .keys_file import HomeBusy, KeysFile

if TYPE_CHECKING:
    from . import admin, keypoll


def __getattr__(name: str) -> object:
    # ``agentkeys.keypoll`` is imported on first use, so that ``python -m agentkeys.keypoll`` runs
    # it as a fresh main module.
    if name in ("keypoll", "admin"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Error",
    "HomeBusy",
    "KeysFile",
    "ParseError",
    "Record",
    "Request",
    "RequestRefused",
    "ScriptRefused",
    "ServerRefused",
    "ValidationError",
    "__version__",
    "admin",
    "encryption_key",
    "export_key",
    "file_ip",
    "generate_key",
    "import_key",
    "key_hash",
    "keypoll",
    "normalize_ip",
    "parse_keys",
    "parse_reply",
    "validate_groups",
    "validate_id",
    "validate_ip",
    "validate_key",
    "validate_name",
    "validate_script_id",
    "wazuh5",
]
