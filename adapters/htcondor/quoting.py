"""HTCondor's argument and environment syntaxes (condor_utils/condor_arglist.cpp, env.cpp).

New syntax (``Arguments``/``Environment`` attributes): words split on whitespace; single quotes
keep whitespace; inside them ``''`` is one literal quote. Old syntax (``Args``): split on
whitespace, ``\\"`` is a literal double quote. Old environment (``Env``): ``;``-separated.
"""

from __future__ import annotations

from bridge.domain.errors import TranslationError


def split_v2(text: str, what: str = "arguments") -> list[str]:
    words: list[str] = []
    current: list[str] = []
    started = quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'" and text[i + 1 : i + 2] == "'":
                current.append("'")
                i += 1
            elif ch == "'":
                quoted = False
            else:
                current.append(ch)
        elif ch == "'":
            quoted = started = True
        elif ch.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
        i += 1
    if quoted:
        raise TranslationError(f"{what}: unbalanced single quote in {text!r}")
    if started:
        words.append("".join(current))
    return words


def split_v1(text: str) -> list[str]:
    return [w.replace('\\"', '"') for w in text.split()]


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise TranslationError(f"{what}: {item!r} is not NAME=VALUE")
        out.append((name, value))
    return out


def environment_v2(text: str) -> list[tuple[str, str]]:
    return _pairs(split_v2(text, "environment"), "environment")


def environment_v1(text: str) -> list[tuple[str, str]]:
    return _pairs([i for i in text.split(";") if i.strip()], "env")
