"""Container image references: the OCI/Docker reference grammar and Docker's normalisation.

Grammar (github.com/distribution/reference, reference.go)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]          host: DNS labels, IPv4, or [IPv6]
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex           e.g. sha256: and 64 hex digits

Anything else is refused: a reference is copied into the pod's ``image:`` field, so a value such as
``python:3.12;curl x|sh`` must never get that far. Normalisation is Docker's: a first component
without ``.`` or ``:`` (and not ``localhost``) is a Docker Hub path, so ``python:3.12-slim`` means
``docker.io/library/python:3.12-slim``; the allow-list is applied to that normalised form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.domain.errors import PolicyError

MAX_NAME = 255  # distribution/reference NameTotalLengthMax
DOCKER_HUB = "docker.io"
_LEGACY_HUB = ("index.docker.io", "registry-1.docker.io")
_OFFICIAL = "library"
_SCHEMES = ("docker://",)  # HTCondor's container_image spelling of a registry image

_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_DOMAIN = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}")


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def under(self, prefix: str) -> bool:
        """``prefix`` is a registry or a repository path, matched whole component by component."""
        wanted = prefix.strip().rstrip("/")
        return bool(wanted) and (self.name == wanted or self.name.startswith(wanted + "/"))


def _bad(text: str, why: str) -> PolicyError:
    return PolicyError(f"image {text!r} is not a valid image reference: {why}")


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return DOCKER_HUB, name


def parse(text: str) -> ImageRef:
    """Parse and normalise ``text``; raises PolicyError naming what is wrong."""
    ref = text.strip()
    for scheme in _SCHEMES:
        ref = ref.removeprefix(scheme)
    if not ref:
        raise _bad(text, "empty")
    if not ref.isascii() or not ref.isprintable() or any(c.isspace() for c in ref):
        raise _bad(text, "only printable ASCII without spaces is allowed")
    name, at, digest = ref.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise _bad(text, f"digest {digest!r} is not ALGORITHM:HEX (e.g. sha256:<64 hex digits>)")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:  # a colon after the last slash starts the tag (before it: a port)
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _bad(text, f"tag {tag!r} may use letters, digits, '_', '.', '-' (at most 128)")
    domain, path = _split_domain(name)
    if not _DOMAIN.fullmatch(domain):
        raise _bad(text, f"registry {domain!r} is not a host name with an optional :port")
    if domain in _LEGACY_HUB:
        domain = DOCKER_HUB
    components = path.split("/")
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            raise _bad(text, f"repository component {component!r} must be lower-case letters, digits and . _ -")
    if domain == DOCKER_HUB and len(components) == 1:
        path = f"{_OFFICIAL}/{path}"
    if len(f"{domain}/{path}") > MAX_NAME:
        raise _bad(text, f"the name is longer than {MAX_NAME} characters")
    return ImageRef(domain=domain, path=path, tag=tag, digest=digest if at else None)


# What a SIF (Apptainer/Singularity) image looks like in either front door.
_SIF = re.compile(r"(\.sif$)|(^/)|(^(oras|library|shub)://)", re.IGNORECASE)


def is_sif(text: str) -> bool:
    """A local file or an Apptainer library reference, not a registry image."""
    return _SIF.search(text.strip()) is not None


SIF_REFUSAL = (
    "is a SIF (Apptainer/Singularity) image or a file path, which batch-bridge does not run: pods run without "
    "privilege escalation and with RuntimeDefault seccomp, which forbids the user namespaces Apptainer needs. "
    "Use an OCI image from a registry instead (container_image = docker://REGISTRY/IMAGE:TAG, "
    "#BRIDGE --image=REGISTRY/IMAGE:TAG)"
)
