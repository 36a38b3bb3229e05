"""The submitter's identity from NSS on the bridge host, checked against the batch system's record.

The batch system authenticates the user (munge, IDTOKENS) and records the name and uid; NSS supplies
what the record lacks (supplementary groups, home, shell, group names). A record whose uid disagrees
with NSS is refused: the two directories are out of step and guessing would run as the wrong person.
"""

from __future__ import annotations

import grp
import os
import pwd

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
