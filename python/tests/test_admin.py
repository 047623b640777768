"""``agentkeys.admin`` against a real server, and ``KeysFile.write`` refusing to race it."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentkeys
from agentkeys.admin import Admin, AdminError

from test_enroll_https import Manager

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def test_admin_client_changes_agents_and_tokens_through_the_server(tmp_path: Path) -> None:
    manager = Manager(tmp_path / "home")
    try:
        admin = Admin(manager.home)
        added = admin.add("py-admin-1", ip="10.0.0.5")
        assert added.name == "py-admin-1" and added.ip == "10.0.0.5"
        assert admin.get(added.id) == added
        assert [r.name for r in admin.list()] == ["py-admin-1"]
        rekeyed = admin.rekey(added.id)
        assert rekeyed.id == added.id and rekeyed.key != added.key
        with pytest.raises(AdminError) as refused:
            admin.add("py-admin-1")
        assert refused.value.code == 9008 and refused.value.message == "Duplicate name"
        minted = admin.token_create("127.0.0.1", allow_loopback=True, max_uses=3, description="py")
        assert len(minted["id"]) == 22 and minted["token"]
        assert [t["id"] for t in admin.token_list()] == [minted["id"]]
        assert admin.token_revoke(minted["id"]) is True and admin.token_revoke(minted["id"]) is False
        assert admin.token_purge() == 1
        assert admin.stats()["registrations"]["admin"]["accepted"] == 1
        admin.remove(added.id, purge=True)
        assert admin.list() == []

        # Writing client.keys directly while the server runs is refused, not raced.
        keys = manager.home / "etc" / "client.keys"
        before = keys.read_text()
        stray = agentkeys.KeysFile.parse(f"042 py-stray any {KEY}\n")
        with pytest.raises(agentkeys.HomeBusy):
            stray.write(keys)
        assert keys.read_text() == before
    finally:
        manager.stop()
    # Once the server is gone, the same write takes the lock and succeeds.
    stray.write(keys)
    assert "042 py-stray any" in keys.read_text()


def test_admin_client_without_a_server_says_so(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Admin(tmp_path).get("001")
