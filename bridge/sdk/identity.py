"""Who is calling: the process's own uid, looked up in NSS. Nothing a caller passes can change it."""

from __future__ import annotations

import os
import pwd

from bridge.domain.errors import PolicyError
from bridge.domain.ir import Identity
from bridge.engine.identity import from_nss
from bridge.sdk.errors import PolicyRefused


def caller_identity() -> Identity:
    uid = os.getuid()
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        raise PolicyRefused(f"uid {uid} is unknown to NSS on this host") from None
    try:
        return from_nss(entry.pw_name, uid)
    except PolicyError as exc:
        raise PolicyRefused(str(exc)) from None
