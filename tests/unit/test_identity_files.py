"""The configured identity mapping of a daemon in a pod (engine.identity: passwd/group files, no NSS)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from adapters.htcondor.port import CondorPort
from adapters.htcondor.settings import CondorSettings
from bridge.config.settings import load_settings
from bridge.domain.errors import PolicyError
from bridge.domain.ir import Identity
from bridge.domain.policy import SitePolicy, check_identity
from bridge.engine.identity import Directory, Remembered, parse_group, parse_passwd
from bridge.engine.ports import BatchRecord
from tests.unit.test_htcondor_adapter import FakeSchedd, MemoryLog

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
slurm:x:64030:64030::/nonexistent:/usr/sbin/nologin
svc:x:999:999:system account:/var/lib/svc:/usr/sbin/nologin
# a comment
alice:x:2001:2001:Alice:/lab/gpfs/home/alice:/bin/bash
bob:x:2002:2002::/lab/gpfs/home/bob:/bin/sh
alice:x:0:0:a later duplicate must not win:/root:/bin/bash
+nisuser::::::
mallory:x:2003:2003:too:many:fields:here
eve:x:2x04:2004::/home/eve:/bin/sh
carol:x:\uff12\uff10\uff10\uff15:2005::/home/carol:/bin/sh
"""
GROUP = """\
root:x:0:
alice:x:2001:
bob:x:2002:
physics:x:3000:alice,bob
gpu:x:3001:alice
wheel:x:10:alice
broken:x:notanumber:alice
"""


@pytest.fixture
def files(tmp_path: Path) -> Directory:
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "group").write_text(GROUP)
    return Directory(str(tmp_path / "passwd"), str(tmp_path / "group"))


def test_user_resolves_with_groups_and_names(files: Directory) -> None:
    ident = files.identity("alice")
    assert (ident.uid, ident.gid, ident.groups) == (2001, 2001, (10, 3000, 3001))
    assert ident.home == "/lab/gpfs/home/alice" and ident.shell == "/bin/bash"
    assert dict(ident.group_names) == {2001: "alice", 10: "wheel", 3000: "physics", 3001: "gpu"}


def test_first_entry_wins_like_nss(files: Directory) -> None:
    assert files.identity("alice").uid == 2001  # the later "alice:x:0:0" line is ignored


@pytest.mark.parametrize("owner", ["nosuchuser", "", "+nisuser", "mallory", "eve", "carol", "alice\n", "../alice"])
def test_unknown_or_malformed_owner_is_refused(files: Directory, owner: str) -> None:
    with pytest.raises(PolicyError, match="unknown to the bridge's identity files"):
        files.identity(owner)


def test_slurm_record_must_agree_on_the_uid(files: Directory) -> None:
    assert files.for_record()("bob", 2002, 3000).gid == 3000  # Slurm's recorded gid is the primary
    with pytest.raises(PolicyError, match="says uid 4242"):
        files.for_record()("bob", 4242, 2002)


def test_files_are_reread_when_they_change(tmp_path: Path, files: Directory) -> None:
    passwd = Path(files.paths[0])
    assert files.identity("bob").uid == 2002
    passwd.write_text(PASSWD.replace("bob:x:2002:2002", "bob:x:2102:2002"))
    os.utime(passwd, ns=(1, 1))  # a different mtime even within the same clock tick
    assert files.identity("bob").uid == 2102
    passwd.unlink()
    with pytest.raises(PolicyError, match="cannot be read"):
        files.identity("bob")


def test_parsers_skip_what_is_not_a_well_formed_line() -> None:
    assert set(parse_passwd(PASSWD)) == {"root", "daemon", "slurm", "svc", "alice", "bob"}
    names, members = parse_group(GROUP)
    assert 3000 in names and "notanumber" not in str(names) and members["bob"] == {3000}


def _port(files: Directory, *owners: str) -> tuple[CondorPort, dict[str, BatchRecord]]:
    schedd = FakeSchedd()
    for proc, owner in enumerate(owners):
        schedd.add(7, proc, Owner=owner, User=f"{owner}@lab")
    settings = CondorSettings.model_validate({"daemon": {"uid_domain": "lab"}})
    port = CondorPort(schedd, settings, "lab", MemoryLog(), identity=files.for_owner())
    return port, {r.key: r for r in port.poll()}


def test_htcondor_owner_resolves_through_the_files(files: Directory) -> None:
    port, records = _port(files, "alice")
    ir = port.to_ir(records["7.0"])
    assert (ir.identity.uid, ir.identity.gid, ir.identity.groups) == (2001, 2001, (10, 3000, 3001))
    check_identity(ir, SitePolicy())


def test_htcondor_owner_unknown_to_the_files_is_refused_at_intake(files: Directory) -> None:
    port, records = _port(files, "nosuchuser")
    with pytest.raises(PolicyError, match="nosuchuser"):  # the engine holds the job with this reason
        port.to_ir(records["7.0"])


@pytest.mark.parametrize("owner", ["root", "daemon", "svc"])
def test_root_and_system_users_in_the_files_are_still_refused(files: Directory, owner: str) -> None:
    port, records = _port(files, owner)
    with pytest.raises(PolicyError, match="may not run jobs"):
        check_identity(port.to_ir(records["7.0"]), SitePolicy())


def test_setting_names_the_files(tmp_path: Path) -> None:
    s = load_settings(None, engine={"identity": {"passwd_file": "/etc/bb/passwd", "group_file": "/etc/bb/group"}})
    assert (s.engine.identity.passwd_file, s.engine.identity.group_file) == ("/etc/bb/passwd", "/etc/bb/group")
    assert load_settings(None).engine.identity.passwd_file is None  # unset: NSS on the host


def test_remembered_lookups_are_kept_for_their_ttl_and_refusals_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    calls: list[str] = []

    def lookup(user: str) -> Identity:
        calls.append(user)
        if user == "mallory":
            raise PolicyError("unknown to NSS")
        return Identity(user=user, uid=2001, gid=2001)

    remembered = Remembered(lookup, ttl_s=60)
    assert remembered("alice") == remembered("alice") == Identity(user="alice", uid=2001, gid=2001)
    for _ in range(2):
        with pytest.raises(PolicyError):
            remembered("mallory")
    now[0] += 61
    remembered("alice")
    assert calls == ["alice", "mallory", "mallory", "alice"]
