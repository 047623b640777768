"""Wazuh 5.0 formats from Python: every case of wazuh5.json, and a real HTTPS enrollment where a
stdlib ``http.server`` manager and a stdlib ``http.client`` agent use nothing but this module."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import agentkeys
from agentkeys import wazuh5
from conftest import vectors_dir


def section(name: str) -> List[Dict[str, Any]]:
    cases: List[Dict[str, Any]] = json.loads((vectors_dir() / "wazuh5.json").read_text("utf-8"))[name]
    return cases


def ids(case: Dict[str, Any]) -> str:
    return str(case.get("case") or case.get("label") or case.get("token") or case.get("body"))[:50]


@pytest.mark.parametrize("case", section("hkdf"), ids=ids)
def test_hkdf(case: Dict[str, Any]) -> None:
    label = {"WAZUH-ENROLL-JWT-KEY": "password", "WAZUH-ENROLL-TOKEN-KEY": "token", "WAZUH-REENROLL-KEY": "reenroll"}
    secret = bytes.fromhex(case["ikm_hex"]) if "ikm_hex" in case else case["ikm_utf8"].encode()
    assert wazuh5.derive_key(label[case["label"]], secret).hex() == case["key_hex"]  # type: ignore[arg-type]


@pytest.mark.parametrize("case", section("jwt_sign"), ids=ids)
def test_sign_reproduces_the_bearer(case: Dict[str, Any]) -> None:
    key, jti = bytes.fromhex(case["key_hex"]), bytes.fromhex(case["jti_hex"])
    bearer = wazuh5.sign_bearer(key, kid=case["kid"], iat=case["iat"], jti=jti)
    assert bearer == case["bearer"]
    assert wazuh5.peek_bearer(bearer).kid == case["kid"]


@pytest.mark.parametrize("case", section("jwt_verify"), ids=ids)
def test_verify(case: Dict[str, Any]) -> None:
    key = bytes.fromhex(case["key_hex"])
    if case["ok"]:
        verified = wazuh5.verify_bearer(case["bearer"], key, now=case["now"])
        assert verified.kid == case["kid"] and verified.iat is not None
    else:
        with pytest.raises(wazuh5.BearerRefused) as e:
            wazuh5.verify_bearer(case["bearer"], key, now=case["now"])
        assert e.value.bearer_class == case["error"]


@pytest.mark.parametrize("case", section("token"), ids=ids)
def test_tokens(case: Dict[str, Any]) -> None:
    if not case["ok"]:
        with pytest.raises(agentkeys.ParseError):
            wazuh5.decode_token(case["token"])
        return
    token = wazuh5.decode_token(case["token"])
    assert (token.host, token.port, token.prefix) == (case["host"], case["port"], case["prefix"])
    assert token.pin is not None and token.pin.hex() == case["pin_hex"]
    assert (token.credential is not None) == case["credential"]
    if case["credential"]:
        assert token.token_id == case["kid"] and token.secret == bytes.fromhex(case["secret_hex"])
    assert token.encode() == case["token"]
    assert token.show().startswith("ver: 1\nadr: ")


@pytest.mark.parametrize("case", section("enroll_body"), ids=ids)
def test_enroll_bodies(case: Dict[str, Any]) -> None:
    if case["ok"]:
        req = wazuh5.parse_enroll_request(case["body"])
        assert (req.name, req.version, req.groups, req.ip, req.key_hash) == (
            case["name"], case["version"], case["groups"], case["ip"], case["key_hash"]
        )
        assert wazuh5.parse_enroll_request(req.encode()) == req
    else:
        with pytest.raises(agentkeys.Error) as e:
            wazuh5.parse_enroll_request(case["body"])
        assert getattr(e.value, "http_message") == case["message"]


def test_token_errors_name_the_member() -> None:
    with pytest.raises(agentkeys.ParseError) as e:
        wazuh5.decode_token(wazuh5.encode_token("m.example", pin=bytes(32)) + "==")
    assert e.value.kind == "InvalidToken"
    with pytest.raises(agentkeys.ValidationError) as v:
        wazuh5.encode_token("m example", pin=bytes(32))
    assert v.value.kind == "InvalidTokenAddress" and v.value.field == "adr"
    with pytest.raises(agentkeys.ValidationError) as v:
        wazuh5.encode_token("m.example")
    assert v.value.kind == "TokenAnchor"


def test_any_single_byte_change_breaks_the_bearer() -> None:
    key = os.urandom(32)
    bearer = wazuh5.sign_bearer(key, kid="001", iat=1700000000)
    for i in range(len(bearer)):
        for other in ("A", "_", "."):
            if bearer[i] == other:
                continue
            changed = bearer[:i] + other + bearer[i + 1 :]
            with pytest.raises(wazuh5.BearerRefused):
                wazuh5.verify_bearer(changed, key, now=1700000000)


def _certificate(tmp: Path) -> Tuple[Path, Path, bytes]:
    """A self-signed P-256 certificate for 127.0.0.1, its key, and its SPKI pin."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    spki = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], check=True, capture_output=True
    ).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki, check=True,
                         capture_output=True).stdout
    return cert, key, wazuh5.spki_pin(der)


def test_a_stdlib_manager_and_a_stdlib_agent_enroll_with_a_token(tmp_path: Path) -> None:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("openssl is needed to make the test certificate")
    cert, key, pin = _certificate(tmp_path)
    issued: Dict[str, wazuh5.Token] = {}

    class Manager(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: bytes, headers: Dict[str, str] = {}) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")

            def key_for(b: wazuh5.Bearer) -> bytes:
                token = issued.get(b.kid or "")
                if token is None:
                    raise wazuh5.BearerRefused("unknown token")
                return wazuh5.token_key(token)

            try:
                wazuh5.verify_bearer(bearer, key_for)
            except wazuh5.BearerRefused as e:
                cls = getattr(e, "bearer_class", "invalid_signature")
                self.reply(401, wazuh5.format_enroll_error(cls, "Invalid client authentication"),
                           {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{cls}"'})
                return
            try:
                req = wazuh5.parse_enroll_request(body)
            except agentkeys.Error as e:
                self.reply(400, wazuh5.format_enroll_error(0, getattr(e, "http_message")))
                return
            record = agentkeys.Record("001", req.name, "any", agentkeys.generate_key())
            self.reply(200, wazuh5.format_enroll_reply(record, os.urandom(32)))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    server = http.server.HTTPServer(("127.0.0.1", 0), Manager)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        # The manager mints a token that pins its CA; the agent gets only the text.
        token = wazuh5.mint_token(f"127.0.0.1:{port}", pin=pin)
        assert token.token_id is not None
        issued[token.token_id] = token
        text = token.encode()

        # The agent: decode, check the server's key against the pin, POST /enroll with a bearer.
        agent_token = wazuh5.decode_token(text)
        assert agent_token.enroll_url == f"https://127.0.0.1:{port}/wazuh-manager/enroll"
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(agent_token.host, agent_token.port, context=unverified, timeout=10)
        conn.connect()
        der_cert = conn.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
        assert der_cert is not None
        pubkey = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=der_cert,
                                check=True, capture_output=True).stdout
        spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pubkey, check=True,
                              capture_output=True).stdout
        assert wazuh5.spki_pin(spki) == agent_token.pin, "the manager's key does not match the token's pin"
        body = wazuh5.EnrollRequest("web-01", "v5.0.0", ip="src").encode()
        headers = {"Authorization": f"Bearer {wazuh5.token_bearer(agent_token)}", "protocol-version": "1",
                   "Content-Type": "application/json"}
        conn.request("POST", "/wazuh-manager/enroll", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        record, secret = wazuh5.parse_enroll_reply(response.read())
        assert record.name == "web-01" and secret is not None and len(secret) == 32

        # A bearer signed with a key the manager does not know is refused with its class.
        headers["Authorization"] = "Bearer " + wazuh5.sign_bearer(os.urandom(32), kid=agent_token.token_id)
        conn.request("POST", "/wazuh-manager/enroll", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 401
        assert json.loads(response.read())["error"]["code"] == "invalid_signature"
        assert 'error_description="invalid_signature"' in response.getheader("WWW-Authenticate", "")
        conn.close()
    finally:
        server.shutdown()


def test_the_module_docstring_example_runs() -> None:
    import doctest

    assert doctest.testmod(wazuh5).failed == 0


def test_token_id_text_is_the_kid_a_token_and_its_bearer_carry():
    raw = bytes(range(16))
    text = wazuh5.token_id_text(raw)
    assert len(text) == 22 and "=" not in text
    token = wazuh5.decode_token(wazuh5.encode_token("m.example:55000", pin=bytes(32), token_id=text, secret=bytes(16)))
    assert token.token_id == text
    assert wazuh5.peek_bearer(wazuh5.token_bearer(token)).kid == text
    with pytest.raises(ValueError):
        wazuh5.token_id_text(bytes(15))
