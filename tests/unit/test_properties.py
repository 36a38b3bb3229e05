"""Arbitrary input never crashes the translators: they return a job or raise TranslationError.

Text comes from arbitrary *bytes* decoded as the CLI decodes files (UTF-8 with surrogateescape), so
scripts that are not UTF-8 are covered as well as text."""

from __future__ import annotations

import shlex

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.htcondor.ad import ATTRIBUTES, AdContext, AdView, to_ir
from adapters.slurm import options, script
from bridge.domain.errors import TranslationError
from bridge.kube.objects import build_job
from bridge.kube.settings import KubeSettings
from tests.unit.helpers import ALICE, POLICY, sbatch

LONG = [f"--{o.long}" for o in options.ALL]
SHORT = [f"-{o.short}" for o in options.ALL if o.short]
BYTES_AS_TEXT = st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape"))
VALUE = (
    st.text(max_size=12)
    | BYTES_AS_TEXT.map(lambda t: t[:12])
    | st.sampled_from(
        ["1", "0", "10:00", "1-2", "gpu:a:2", "ALL,X=1", "afterok:1", "%a", "4G", "1-3%2", "B:USR1@5", "..", "/etc"]
    )
)
WORD = st.sampled_from(LONG + SHORT) | VALUE | st.builds(lambda o, v: f"{o}={v}", st.sampled_from(LONG), VALUE)


def _attempt_sbatch(body: str) -> None:
    try:
        job = sbatch(body)
        build_job(job, POLICY, KubeSettings())
    except TranslationError:
        pass


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(WORD, max_size=4), max_size=6), st.text(max_size=40) | BYTES_AS_TEXT)
def test_sbatch_directives_never_crash(lines: list[list[str]], tail: str) -> None:
    body = "#!/bin/sh\n" + "".join("#SBATCH " + " ".join(words) + "\n" for words in lines) + tail
    _attempt_sbatch(body)


@settings(max_examples=300)
@given(st.text(max_size=300) | BYTES_AS_TEXT | BYTES_AS_TEXT.map(lambda t: "#!/bin/sh\n#SBATCH -p k8s\n" + t))
def test_arbitrary_scripts_never_crash(body: str) -> None:
    _attempt_sbatch(body)


AD_KEYS = list(ATTRIBUTES)  # the translator's own table: a key added there is fuzzed here
AD_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | BYTES_AS_TEXT.map(lambda t: t[:30])
    | st.sampled_from(["/lab/gpfs/home/alice", "a 'b", "A=1 B='x'", "docker://x/y:1", "x.sif", "alice"])
)


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from(AD_KEYS), AD_VALUE), st.sets(st.sampled_from(AD_KEYS)))
def test_arbitrary_ads_never_crash(values: dict[str, object], literal: set[str]) -> None:
    base: dict[str, object] = {"ClusterId": 1, "ProcId": 0, "Cmd": "/bin/true", "Iwd": "/lab/gpfs/home/alice"}
    try:
        job = to_ir(AdView({**base, **values}, frozenset(literal)), AdContext(identity=ALICE, cluster="lab"))
        build_job(job, POLICY, KubeSettings())
    except TranslationError:
        pass


def test_every_attribute_the_translator_reads_is_fuzzed() -> None:
    assert set(AD_KEYS) == set(ATTRIBUTES)
    assert {"UserLog", "TransferInput", "TransferOutputRemaps", "WantContainer"} <= set(AD_KEYS)


@settings(max_examples=400)
@given(st.text(alphabet=st.sampled_from([*" \t\r\n\x0b\x0c\xa0'\"\\#=-_aZ0,:%", "\u2003"]), max_size=40))
def test_the_directive_fast_path_splits_exactly_as_shlex(text: str) -> None:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        expected: tuple[str, ...] | None = tuple(lexer)
    except ValueError:
        expected = None
    try:
        got: tuple[str, ...] | None = script._words(text, 1)
    except TranslationError:
        got = None
    assert got == expected
