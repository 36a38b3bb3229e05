"""HTCondor: quoting rules, submit descriptions through the real bindings, ad -> IR."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.htcondor.ad import AdContext, AdView, to_ir
from adapters.htcondor.quoting import environment_v1, environment_v2, split_v1, split_v2
from adapters.htcondor.submit import statements
from adapters.htcondor.translate import translate
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import Command
from bridge.domain.policy import check_job
from tests.unit.helpers import ALICE, POLICY

CTX = AdContext(identity=ALICE, cluster="lab")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("a 'b c' d", ["a", "b c", "d"]),
        ("a b' 'c", ["a", "b c"]),
        ("'it''s'", ["it's"]),
        ("''", [""]),
        ("  ", []),
        ('say "hi"', ["say", '"hi"']),
    ],
)
def test_new_argument_syntax(text: str, words: list[str]) -> None:
    assert split_v2(text) == words


def test_old_syntax_and_environments() -> None:
    assert split_v1('a \\"b\\" c') == ["a", '"b"', "c"]
    assert environment_v2("A=1 B='x y' C=") == [("A", "1"), ("B", "x y"), ("C", "")]
    assert environment_v1("A=1;B=two words") == [("A", "1"), ("B", "two words")]
    with pytest.raises(TranslationError, match="unbalanced"):
        split_v2("a 'b")
    with pytest.raises(TranslationError, match="NAME=VALUE"):
        environment_v2("novalue")


def test_statements_cut_at_each_queue_and_keep_item_blocks() -> None:
    text = "executable = a\nqueue 2\nexecutable = b\nqueue x from (\n 1\n 2\n)\n"
    cut = statements(text)
    assert [s.line for s in cut] == [2, 4]
    assert "queue 2" not in cut[1].text
    assert cut[1].text.rstrip().endswith(")")
    with pytest.raises(TranslationError, match="no queue"):
        statements("executable = a\n")


def test_several_queue_statements_make_one_proc_each_numbered_on(tmp_path: Path) -> None:
    text = "executable = /bin/echo\ntransfer_executable = false\narguments = $(Process)\nqueue 2\nexecutable = /bin/true\nqueue\n"
    jobs = translate(text, CTX, str(tmp_path), cluster_id=9)
    assert [j.source_id for j in jobs] == ["9.0", "9.1", "9.2"]
    commands = [j.payload for j in jobs]
    assert all(isinstance(c, Command) for c in commands)
    assert [c.executable for c in commands if isinstance(c, Command)] == ["/bin/echo", "/bin/echo", "/bin/true"]
    assert [c.args for c in commands if isinstance(c, Command)] == [("0",), ("1",), ("2",)]


def test_queue_in_and_matching_forms(tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_text("")
    (tmp_path / "b.dat").write_text("")
    text = 'executable = /bin/echo\narguments = "$(f)"\nqueue f matching files *.dat\n'
    jobs = translate(text, CTX, str(tmp_path))
    assert sorted(j.payload.args for j in jobs if isinstance(j.payload, Command)) == [("a.dat",), ("b.dat",)]
    text = 'executable = /bin/echo\narguments = "$(Item)"\nqueue 2 in (x, y)\n'
    assert len(translate(text, CTX, str(tmp_path))) == 4


def test_relative_paths_resolve_against_the_submit_dir_even_when_absent_here() -> None:
    job = translate("executable = run.sh\noutput = o.txt\nqueue\n", CTX, "/lab/nowhere/alice")[0]
    assert isinstance(job.payload, Command)
    assert job.payload.executable == "/lab/nowhere/alice/run.sh"
    assert job.working_dir == "/lab/nowhere/alice"


def test_missing_initialdir_is_refused_like_condor_submit(tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match="No such directory"):
        translate("executable = /bin/true\ninitialdir = /nonexistent/dir\nqueue\n", CTX, str(tmp_path), source="f.sub")


def test_bindings_errors_become_translation_errors(tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match=r"f\.sub:3: HTCondor refused .*RequestMemory"):
        translate("executable = /bin/true\nrequest_memory = abc(\nqueue\n", CTX, str(tmp_path), source="f.sub")


def _view(**values: object) -> AdView:
    base: dict[str, object] = {
        "ClusterId": 5,
        "ProcId": 0,
        "Cmd": "/bin/true",
        "Iwd": "/lab/gpfs/home/alice",
        "JobUniverse": 5,
    }
    base.update(values)
    return AdView(base)


def test_memory_floor_and_requests() -> None:
    job = to_ir(_view(RequestMemory=0, RequestCpus=2.5, RequestGPUs=1, RequestDisk=2048), CTX)
    r = job.resources
    assert (r.memory_per_node_mib, r.cpus_per_task, r.ephemeral_disk_mib) == (128, 3, 2)
    assert r.gpus is not None
    assert r.gpus.count == 1


def test_images() -> None:
    assert to_ir(_view(ContainerImage="docker://reg/a:1"), CTX).image == "reg/a:1"
    assert to_ir(_view(DockerImage="reg/b:2"), CTX).image == "reg/b:2"
    with pytest.raises(TranslationError, match="docker://"):
        to_ir(_view(ContainerImage="/cvmfs/img.sif"), CTX)


def test_refusals() -> None:
    with pytest.raises(TranslationError, match="universe 7"):
        to_ir(_view(JobUniverse=7), CTX)
    with pytest.raises(PolicyError, match="Owner"):
        to_ir(_view(Owner="mallory"), CTX)
    with pytest.raises(TranslationError, match="ClusterId"):
        to_ir(_view(ClusterId=None), CTX)


def test_an_explicit_forbidden_variable_is_refused_by_the_policy() -> None:
    job = to_ir(_view(Environment="A=1 LD_PRELOAD=/x.so"), CTX)
    with pytest.raises(PolicyError, match="setting LD_PRELOAD is not allowed"):
        check_job(job, POLICY)


def test_streams_default_to_dev_null_and_transfer_is_a_warning() -> None:
    job = to_ir(_view(TransferInput="data.tgz"), CTX)
    assert job.io.stdin is None
    assert job.io.stdout is not None
    assert job.io.stdout.parts == ("/dev/null",)
    assert any("transfer" in w for w in job.warnings)
