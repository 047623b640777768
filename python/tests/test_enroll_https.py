"""A Wazuh 5.x agent's enrollment, written here from the standard library (http.client, ssl) and the
agentkeys module, against a real ``agentkeys serve``: the token bootstrap (``/cacerts`` unverified,
keep the pinned CA, reconnect verified, ``POST /enroll``), re-enrollment, password mode, and the
same token's credential used as the password of an old agent on port 1515."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from agentkeys import wazuh5

from conftest import REPO

BIN = Path(os.environ.get("AGENTKEYS_BIN", REPO / "target" / "debug" / "agentkeys"))


class Manager:
    """A running ``agentkeys serve`` on loopback with both listeners on free ports."""

    def __init__(self, home: Path) -> None:
        if not BIN.exists():
            raise FileNotFoundError(f"{BIN} is missing: build it (cargo build -p agentkeys-server) or set AGENTKEYS_BIN")
        self.home = home
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--home", str(home), "--bind", "127.0.0.1", "--port", "0", "--https-port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: List[str] = []
        ports: Dict[str, int] = {}
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            https = re.search(r"HTTPS enrollment on [^ ]*:(\d+) ", line)
            if https:
                ports["https"] = int(https.group(1))
            legacy = re.search(r"agentkeys: listening on .*:(\d+)$", line.strip())
            if legacy:
                ports["legacy"] = int(legacy.group(1))
                break
        else:
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.https_port = ports["https"]
        self.legacy_port = ports["legacy"]
        # Keep draining the log so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def tokens(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN), "tokens", "--home", str(self.home), *args], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    m = Manager(tmp_path / "home")
    yield m
    m.stop()


def der_items(data: bytes, pos: int, end: int) -> Iterator[Tuple[int, int, int]]:
    """(start, content start, end) of each DER item in data[pos:end]."""
    while pos < end:
        start = pos
        pos += 1
        length = data[pos]
        pos += 1
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        yield start, pos, pos + length
        pos += length


def spki_of(der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a certificate (the 7th item of tbsCertificate, counting
    the optional [0] version)."""
    _, cert_content, cert_end = next(der_items(der, 0, len(der)))
    _, tbs_content, tbs_end = next(der_items(der, cert_content, cert_end))
    items = list(der_items(der, tbs_content, tbs_end))
    if der[items[0][0]] == 0xA0:
        items = items[1:]
    start, _, end = items[5]
    return der[start:end]


def pem_certs(pem: str) -> List[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", pem, re.S)


def unverified() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def verified(ca_pem: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def bootstrap_anchor(token: wazuh5.Token) -> str:
    """``GET /cacerts`` without verifying; the one certificate whose SPKI is the token's pin."""
    conn = http.client.HTTPSConnection(token.host, token.port, context=unverified(), timeout=20)
    conn.request("GET", f"/{token.prefix}/cacerts")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("content-type") == "application/x-pem-file"
    served = response.read().decode()
    pinned = [
        pem for pem in pem_certs(served) if wazuh5.spki_pin(spki_of(ssl.PEM_cert_to_DER_cert(pem))) == token.pin
    ]
    assert len(pinned) == 1, "exactly one served certificate matches the pin"
    return pinned[0]


def post_enroll(
    host: str, port: int, prefix: str, ca_pem: str, body: bytes, bearer: Optional[str]
) -> Tuple[int, Dict[str, str], bytes]:
    conn = http.client.HTTPSConnection(host, port, context=verified(ca_pem), timeout=20)
    headers = {"protocol-version": "1", "content-type": "application/json"}
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    conn.request("POST", f"/{prefix}/enroll", body=body, headers=headers)
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_a_5x_agent_enrolls_with_a_token_and_reenrolls(manager: Manager) -> None:
    text = manager.tokens("create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "2")
    token = wazuh5.decode_token(text)
    assert token.host == "127.0.0.1" and token.port == manager.https_port and token.prefix == "wazuh-manager"
    anchor = bootstrap_anchor(token)
    assert anchor.strip() == (manager.home / "etc" / "sslenroll-ca.cert").read_text().strip()

    body = wazuh5.EnrollRequest("py-five", "v5.0.0").encode()
    status, headers, reply = post_enroll(
        token.host, token.port, token.prefix, anchor, body, wazuh5.token_bearer(token)
    )
    assert status == 200, reply
    assert headers["content-type"] == "application/json"
    record, secret = wazuh5.parse_enroll_reply(reply)
    assert record.name == "py-five" and secret is not None and len(secret) == 32
    keys = (manager.home / "etc" / "client.keys").read_text()
    assert str(record) in keys and secret.hex() not in keys

    # Re-enrollment: the bearer is signed with the agent's own secret; same ID, new key and secret.
    status, _, reply = post_enroll(
        token.host, token.port, token.prefix, anchor, body, wazuh5.reenroll_bearer(record.id, secret)
    )
    assert status == 200, reply
    rotated, new_secret = wazuh5.parse_enroll_reply(reply)
    assert rotated.id == record.id and rotated.key != record.key and new_secret != secret
    # The old secret no longer works: 401 with upstream's class and challenge.
    status, headers, reply = post_enroll(
        token.host, token.port, token.prefix, anchor, body, wazuh5.reenroll_bearer(record.id, secret)
    )
    assert status == 401
    assert json.loads(reply) == {"error": {"code": "invalid_signature", "message": "Invalid client authentication"}}
    assert headers["www-authenticate"] == 'Bearer error="invalid_token", error_description="invalid_signature"'


def legacy_request(port: int, line: str) -> bytes:
    """One port-1515 exchange, as agent-auth does it."""
    ctx = unverified()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(line.encode())
            chunks = []
            while True:
                try:
                    chunk = tls.recv(4096)
                except (ssl.SSLEOFError, ConnectionResetError):
                    break
                if not chunk:
                    break
                chunks.append(chunk)
    return b"".join(chunks)


def test_the_same_token_enrolls_an_old_agent_on_port_1515_and_counts_its_use(manager: Manager) -> None:
    token = wazuh5.decode_token(manager.tokens("create", "--address", "127.0.0.1", "--allow-loopback", "--max-uses", "1"))
    assert token.credential is not None
    reply = legacy_request(manager.legacy_port, f"OSSEC PASS: {token.credential} OSSEC A:'py-legacy'\n")
    assert reply.startswith(b"OSSEC K:'"), reply
    again = legacy_request(manager.legacy_port, f"OSSEC PASS: {token.credential} OSSEC A:'py-legacy-2'\n")
    assert again == b"ERROR: Enrollment token has no uses left\n" or again.startswith(b"ERROR: Enrollment token has no uses left")
    anchor = bootstrap_anchor(token)
    body = wazuh5.EnrollRequest("py-five-2", "v5.0.0").encode()
    status, _, reply = post_enroll(token.host, token.port, token.prefix, anchor, body, wazuh5.token_bearer(token))
    assert status == 403
    assert json.loads(reply) == {"error": {"code": 9024, "message": "Enrollment token has no uses left"}}


def test_password_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "etc").mkdir(parents=True)
    (home / "etc" / "agentkeys.toml").write_text("[auth]\nuse_password = true\n")
    (home / "etc" / "authd.pass").write_text("MyEnrollmentSecret123\n")
    manager = Manager(home)
    try:
        ca = (home / "etc" / "sslenroll-ca.cert").read_text()
        body = wazuh5.EnrollRequest("py-pw", "v5.0.0").encode()
        status, headers, _ = post_enroll("127.0.0.1", manager.https_port, "wazuh-manager", ca, body, None)
        assert status == 401 and headers["www-authenticate"] == 'Bearer error="invalid_request"'
        bearer = wazuh5.password_bearer("MyEnrollmentSecret123")
        status, _, reply = post_enroll("127.0.0.1", manager.https_port, "wazuh-manager", ca, body, bearer)
        assert status == 200, reply
        record, secret = wazuh5.parse_enroll_reply(reply)
        assert record.name == "py-pw" and secret is not None
        assert "MyEnrollmentSecret123" not in "".join(manager.log)
    finally:
        manager.stop()
