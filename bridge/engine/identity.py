"""The submitter's identity from NSS on the bridge host, checked against the batch system's record.

The batch system authenticates the user (munge, IDTOKENS) and records the name and uid; NSS supplies
what the record lacks (supplementary groups, home, shell, group names). A record whose uid disagrees
with NSS is refused: the two directories are out of step and guessing would run as the wrong person.

A daemon in a pod has no site NSS: ``Directory`` reads the same facts from passwd(5)/group(5)-format
files (mounted from a ConfigMap or Secret; ``engine.identity``), re-read when they change, with the
same checks. The files are the site's, never the user's: only names and numbers are read from them.
"""

from __future__ import annotations

import grp
import os
import pwd
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.domain.errors import PolicyError
from bridge.domain.ir import Identity


def from_nss(user: str, uid: int, gid: int | None = None) -> Identity:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise PolicyError(f"user {user!r} (uid {uid}) is unknown to NSS on the bridge host") from None
    if entry.pw_uid != uid:
        raise PolicyError(f"user {user!r}: the batch record says uid {uid}, NSS says {entry.pw_uid}")
    primary = entry.pw_gid if gid is None else gid
    gids = sorted(set(os.getgrouplist(user, primary)) - {primary})
    names: list[tuple[int, str]] = []
    for g in [primary, *gids]:
        try:
            names.append((g, grp.getgrgid(g).gr_name))
        except KeyError:
            continue
    return Identity(
        user=user,
        uid=uid,
        gid=primary,
        groups=tuple(gids),
        home=entry.pw_dir or None,
        shell=entry.pw_shell or None,
        group_names=tuple(names),
    )


class Remembered:
    """An identity lookup whose answers are kept ``ttl_s`` seconds (as nscd and sssd do): a burst of one
    user's 1,000 jobs costs one passwd and group scan (or sssd/LDAP round trip), not 1,000, and a
    change in NSS shows within ``ttl_s``. Refusals are not kept: a user added to NSS is seen at once."""

    def __init__(self, lookup: Callable[..., Identity], ttl_s: float = 60.0, size: int = 4096) -> None:
        self._lookup, self._ttl, self._size = lookup, ttl_s, size
        self._kept: dict[tuple[object, ...], tuple[float, Identity]] = {}
        self._lock = threading.Lock()

    def __call__(self, *args: object) -> Identity:
        now = time.monotonic()
        with self._lock:
            hit = self._kept.get(args)
        if hit is not None and hit[0] > now:
            return hit[1]
        identity = self._lookup(*args)
        with self._lock:
            if len(self._kept) >= self._size:
                self._kept.clear()  # a bound, not a policy: thousands of distinct users within ttl_s
            self._kept[args] = (now + self._ttl, identity)
        return identity


@dataclass(frozen=True)
class _User:
    uid: int
    gid: int
    home: str
    shell: str


def _fields(text: str, count: int) -> list[list[str]]:
    """The well-formed lines: ``count`` colon-separated fields; comments, NIS ``+``/``-`` lines and
    anything else are skipped (a broken line must not shift another user's identity)."""
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) == count and parts[0] and not parts[0].startswith(("#", "+", "-")):
            out.append(parts)
    return out


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def parse_passwd(text: str) -> dict[str, _User]:
    users: dict[str, _User] = {}
    for name, _pw, uid, gid, _gecos, home, shell in _fields(text, 7):
        u, g = _number(uid), _number(gid)
        if u is not None and g is not None:
            users.setdefault(name, _User(u, g, home, shell))  # the first entry wins, as in NSS
    return users


def parse_group(text: str) -> tuple[dict[int, str], dict[str, set[int]]]:
    """gid -> name, and user -> the gids listing them as members."""
    names: dict[int, str] = {}
    members: dict[str, set[int]] = {}
    for name, _pw, gid, users in _fields(text, 4):
        g = _number(gid)
        if g is None:
            continue
        names.setdefault(g, name)
        for user in filter(None, users.split(",")):
            members.setdefault(user, set()).add(g)
    return names, members


class Directory:
    """passwd/group files standing in for NSS (``from_nss``'s rules, the same refusals)."""

    def __init__(self, passwd: str, group: str | None = None) -> None:
        self.paths = (passwd, group)
        self._lock = threading.Lock()
        self._seen: tuple[tuple[int, int, int] | None, ...] = ()
        self._users: dict[str, _User] = {}
        self._groups: tuple[dict[int, str], dict[str, set[int]]] = ({}, {})

    def _load(self) -> None:
        """Re-read when a file changed (a ConfigMap update swaps the file under the mount)."""
        stamps = tuple(_stamp(p) for p in self.paths)
        if stamps == self._seen:
            return
        try:
            passwd = _read(self.paths[0])
            group = _read(self.paths[1]) if self.paths[1] else ""
        except OSError as exc:
            raise PolicyError(f"the bridge's identity files cannot be read: {exc}") from None
        self._users, self._groups, self._seen = parse_passwd(passwd), parse_group(group), stamps

    def identity(self, user: str, uid: int | None = None, gid: int | None = None) -> Identity:
        with self._lock:
            self._load()
            entry = self._users.get(user)
            names, members = self._groups
        if entry is None:
            raise PolicyError(f"user {user!r} is unknown to the bridge's identity files")
        if uid is not None and entry.uid != uid:
            raise PolicyError(f"user {user!r}: the batch record says uid {uid}, the identity files say {entry.uid}")
        primary = entry.gid if gid is None else gid
        gids = sorted(members.get(user, set()) - {primary})
        return Identity(
            user=user,
            uid=entry.uid,
            gid=primary,
            groups=tuple(gids),
            home=entry.home or None,
            shell=entry.shell or None,
            group_names=tuple((g, names[g]) for g in [primary, *gids] if g in names),
        )

    def for_owner(self) -> Callable[[str], Identity]:
        """HTCondor: the record names the Owner only."""
        return lambda owner: self.identity(owner)

    def for_record(self) -> Callable[[str, int, int], Identity]:
        """Slurm: the record carries uid and gid; the files must agree on the uid."""
        return lambda user, uid, gid: self.identity(user, uid, gid)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(16 * 1024 * 1024)
