"""Wazuh 5.0 enrollment: tokens, the enroll JWT and the ``/enroll`` bodies.

Everything a provisioning script, a 5.x agent's enrollment client or a manager needs, with the
exact rules of Wazuh 5.0 (implemented once, in Rust, and shared with the C library).

Mint a token for a manager, then verify the bearer an agent signs with it:

>>> from agentkeys import wazuh5
>>> token = wazuh5.mint_token("manager.example.com", pin=bytes(32))
>>> bearer = wazuh5.token_bearer(token, iat=1700000000)
>>> wazuh5.verify_bearer(bearer, wazuh5.token_key(token), now=1700000005).kind
'token'
"""

from __future__ import annotations

import os
from typing import Optional, Union

from ._native import (
    Bearer,
    BearerRefused,
    EnrollRequest,
    Token,
    decode_token,
    derive_key,
    encode_token,
    format_enroll_error,
    format_enroll_reply,
    parse_enroll_reply,
    parse_enroll_request,
    peek_bearer,
    pin_text,
    sign_bearer,
    spki_pin,
    token_id_text,
    verify_bearer,
)

__all__ = [
    "Bearer",
    "BearerRefused",
    "EnrollRequest",
    "Token",
    "decode_token",
    "derive_key",
    "encode_token",
    "format_enroll_error",
    "format_enroll_reply",
    "mint_token",
    "parse_enroll_reply",
    "parse_enroll_request",
    "password_bearer",
    "peek_bearer",
    "pin_text",
    "reenroll_bearer",
    "sign_bearer",
    "spki_pin",
    "token_bearer",
    "token_id_text",
    "token_key",
    "verify_bearer",
]


def mint_token(
    address: str, *, pin: Optional[bytes] = None, ca: Optional[str] = None, credential: bool = True
) -> Token:
    """A new enrollment token for ``address`` (``host[:port][/prefix]``), anchored by the CA's
    ``pin`` (see :func:`spki_pin`) or its PEM ``ca``, with a fresh random ID and secret unless
    ``credential`` is False. ``token.encode()`` is the text to hand to agents; the manager keeps
    ``token.token_id`` and ``token.secret``."""
    if not credential:
        return decode_token(encode_token(address, pin=pin, ca=ca))
    token_id = token_id_text(os.urandom(16))
    return decode_token(encode_token(address, pin=pin, ca=ca, token_id=token_id, secret=os.urandom(16)))


def token_key(token: Union[Token, str]) -> bytes:
    """The bearer key of a token that carries a credential."""
    if isinstance(token, str):
        token = decode_token(token)
    if token.secret is None:
        raise ValueError("this token carries no credential")
    return derive_key("token", token.secret)


def token_bearer(token: Union[Token, str], *, iat: Optional[int] = None) -> str:
    """The bearer a 5.x agent sends with a token: signed with the token's key, ``kid`` = its ID."""
    if isinstance(token, str):
        token = decode_token(token)
    return sign_bearer(token_key(token), kid=token.token_id, iat=iat)


def password_bearer(password: Union[str, bytes], *, iat: Optional[int] = None) -> str:
    """The bearer of password mode (``authd.pass``): no ``kid``."""
    return sign_bearer(derive_key("password", password), iat=iat)


def reenroll_bearer(agent_id: str, secret: bytes, *, iat: Optional[int] = None) -> str:
    """The bearer of a re-enrollment: ``kid`` = the agent's ID, key from its 32-byte secret."""
    return sign_bearer(derive_key("reenroll", secret), kid=agent_id, iat=iat)
