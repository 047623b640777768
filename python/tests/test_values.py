"""The value types behave as Python values: they pickle, copy, compare and match; and what
``help()`` shows at run time is what the stub (and so an IDE) shows."""

from __future__ import annotations

import ast
import copy
import inspect
import pickle

import agentkeys
import agentkeys._native as native
from agentkeys import wazuh5

from conftest import REPO

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def values() -> list:
    active = agentkeys.Record("001", "web-01", "10.0.0.0/24", KEY)
    removed = agentkeys.parse_keys(f"002 !gone any {KEY}\n")[0]
    token = wazuh5.mint_token("manager.example.com", pin=bytes(32))
    bearer = wazuh5.peek_bearer(wazuh5.token_bearer(token, iat=1_700_000_000))
    return [
        active,
        removed,
        agentkeys.Request("web-01", password="pw", version="v4.14.7", groups="default", ip="src"),
        wazuh5.EnrollRequest("web-01", "v5.0.0", groups="db", ip="10.0.0.1"),
        token,
        bearer,
    ]


def test_values_pickle_copy_and_compare() -> None:
    for value in values():
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(value, protocol=protocol))
            assert back == value and type(back) is type(value), (value, protocol)
        assert copy.copy(value) is value and copy.deepcopy(value) is value
    removed = values()[1]
    assert removed.removed and str(pickle.loads(pickle.dumps(removed))) == str(removed)


def test_records_match_positionally() -> None:
    match agentkeys.Record("001", "web-01", "any", KEY):
        case agentkeys.Record("001", name, "any", _):
            assert name == "web-01"
        case _:
            raise AssertionError("no match")
    match wazuh5.EnrollRequest("web-01", "v5.0.0"):
        case wazuh5.EnrollRequest(name, version):
            assert (name, version) == ("web-01", "v5.0.0")
        case _:
            raise AssertionError("no match")


def test_runtime_docstrings_equal_the_stub() -> None:
    tree = ast.parse((REPO / "python" / "agentkeys" / "_native.pyi").read_text(encoding="utf-8"))
    checked = 0
    differ = []

    def check(name: str, node: ast.AST, obj: object) -> None:
        nonlocal checked
        stub = ast.get_docstring(node)  # type: ignore[arg-type]
        if stub is None:
            return
        checked += 1
        if stub.strip() != (inspect.getdoc(obj) or "").strip():
            differ.append(name)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and hasattr(native, node.name):
            obj = getattr(native, node.name)
            check(node.name, node, obj)
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, ast.FunctionDef) and hasattr(obj, sub.name):
                        check(f"{node.name}.{sub.name}", sub, getattr(obj, sub.name))
    assert checked > 50
    assert differ == [], f"docstrings differ between the module and _native.pyi: {differ}"


def run_module(*args: str) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-W", "error", "-m", *args], capture_output=True, text=True, timeout=60)


def test_python_m_agentkeys_checks_a_keys_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.keys"
    good.write_text(f"001 web-01 any {KEY}\n")
    done = run_module("agentkeys", "check", str(good))
    assert (done.returncode, done.stdout) == (0, f"{good}: 1 agents, no problems\n")
    bad = tmp_path / "bad.keys"
    bad.write_text(f"001 web-01 any {KEY}\n002 web-02 999.1.1.1 {KEY}\n")
    done = run_module("agentkeys", "check", str(bad))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{bad}:2: invalid agent address"), done.stderr
    assert run_module("agentkeys").returncode == 2


def test_python_m_agentkeys_keypoll_judges_a_script_as_the_manager(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    script = REPO / "examples" / "python" / "keypoll_csv.py"
    for module in ("agentkeys", "agentkeys.keypoll"):
        prefix = ["keypoll"] if module == "agentkeys" else []
        done = run_module(module, *prefix, sys.executable, str(script), "--", "id", "001")
        assert done.returncode == 0 and "would add agent '001' (web-01)" in done.stdout, (module, done)
        assert done.stderr == "", "no warning when run as a main module"
    done = run_module("agentkeys", "keypoll", sys.executable, str(script), "--", "id", "404")
    assert done.returncode == 1 and "the script answered error" in done.stderr
    fake = tmp_path / "fake.sh"
    fake.write_text('#!/bin/sh\necho \'{"error":0,"data":{"id":"7","name":"x1","ip":"any","key":"k"}}\'\n')
    fake.chmod(0o755)
    done = run_module("agentkeys", "keypoll", str(fake), "--", "id", "007")
    assert done.returncode == 1 and "the manager would reject this answer" in done.stderr, done
