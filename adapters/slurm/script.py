"""Reading a batch script the way sbatch does.

``#SBATCH`` lines are read from the top until the first line that is neither blank nor a comment;
later ones are plain comments. ``#SLURM`` lines are still honoured by sbatch 24.11 with a warning to
change them to ``#SBATCH``; so here (their options join the ``#SBATCH`` ones, and ``warnings`` says
so). ``#BRIDGE`` lines follow the same rule; sbatch ignores them, which is how a stock sbatch
carries the bridge's own directives (``#BRIDGE --image=...``). Slurm refuses scripts without ``#!``,
empty ones, NUL bytes and DOS line breaks; so does this module, with sbatch's words. Slurm stores
any bytes, but Kubernetes carries the script as UTF-8 text (ConfigMap ``data``), so a script that is
not UTF-8 is refused with the line of the first bad byte rather than altered.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bridge.domain.errors import TranslationError

SBATCH = "#SBATCH"
SLURM = "#SLURM"  # deprecated spelling sbatch still honours
BRIDGE = "#BRIDGE"
DOS_MESSAGE = "Batch script contains DOS line breaks (\\r\\n) instead of expected UNIX line breaks (\\n)"


@dataclass(frozen=True)
class Directive:
    line: int  # 1-based
    words: tuple[str, ...]


@dataclass(frozen=True)
class ScriptDirectives:
    interpreter: tuple[str, ...]
    sbatch: tuple[Directive, ...]
    bridge: tuple[Directive, ...]
    warnings: tuple[str, ...] = ()


MAX_SCRIPT_BYTES = 4 * 1024 * 1024  # Slurm's default SchedulerParameters max_script_size (4 MB)


def check_body(body: str) -> None:
    if len(body) > MAX_SCRIPT_BYTES:
        raise TranslationError(f"batch script is larger than {MAX_SCRIPT_BYTES} bytes (Slurm's max_script_size)")
    if not body.strip():
        raise TranslationError("batch script is empty")
    if "\0" in body:
        raise TranslationError("batch script contains a NUL byte")
    if "\r\n" in body:
        raise TranslationError(
            DOS_MESSAGE + "; convert it with dos2unix", line=body.count("\n", 0, body.index("\r\n")) + 1
        )
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = body.count("\n", 0, exc.start) + 1
        raise TranslationError(
            "batch script is not valid UTF-8: Kubernetes carries scripts as UTF-8 text; convert it "
            "(e.g. iconv -t UTF-8)",
            line=line,
        ) from None
    if not body.startswith("#!"):
        raise TranslationError("this does not look like a batch script: the first line must start with #!", line=1)


def interpreter(first_line: str) -> tuple[str, ...]:
    """As the kernel reads a shebang: the path, then the rest of the line as one argument."""
    text = first_line[2:].strip()
    path, _, arg = text.partition(" ")
    if not path.startswith("/"):
        raise TranslationError(f"interpreter {path!r} in the #! line must be an absolute path", line=1)
    arg = arg.strip()
    return (path, arg) if arg else (path,)


# Quotes, backslashes, comments or whitespace other than space/tab: only then is shlex needed.
# Without them shlex's split is str.split() (tested against shlex), at a fraction of the cost.
_NEEDS_SHLEX = re.compile(r"['\"\\#]|[^\S \t]")
_DIRECTIVE = re.compile(r"(#SBATCH|#SLURM|#BRIDGE)[ \t]")


def _words(text: str, line: int) -> tuple[str, ...]:
    if _NEEDS_SHLEX.search(text) is None:
        return tuple(text.split())
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return tuple(lexer)
    except ValueError as exc:
        raise TranslationError(f"cannot parse directive: {exc}", line=line) from None


def read(body: str) -> ScriptDirectives:
    check_body(body)
    lines = body.split("\n")
    sbatch: list[Directive] = []
    bridge: list[Directive] = []
    warnings: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break  # first command: directives end here, as in sbatch
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        magic = match.group(1)
        words = _words(line[len(magic) :], number)
        if words and words[0] in ("hetjob", "packjob"):
            raise TranslationError("heterogeneous jobs are not supported", line=number)
        (bridge if magic == BRIDGE else sbatch).append(Directive(number, words))
        if magic == SLURM:
            warnings.append(f"line {number}: #SLURM directives are deprecated; change them to #SBATCH")
    return ScriptDirectives(interpreter(lines[0]), tuple(sbatch), tuple(bridge), tuple(warnings))
