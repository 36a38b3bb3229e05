"""AdminComment markers and job_submit.lua's payload: round trips, and what a hostile comment cannot do."""

from __future__ import annotations

from adapters.slurm import marker as mk
from adapters.slurm.record import parse_payload, payload_text
from bridge.domain.lifecycle import Outcome
from bridge.domain.states import JobState


def test_lua_marker_parses() -> None:
    m = mk.parse("batch-bridge[v1 b=1796126465] queued for Kubernetes")
    assert m is not None
    assert (m.begin, m.released, m.outcome_known, m.text) == (1796126465, False, False, "queued for Kubernetes")


def test_outcome_round_trip_keeps_the_fields_the_shim_reads_in_order() -> None:
    m = mk.Marker(begin=0, released=True).with_outcome(
        Outcome(state=JobState.FAILED, exit_code=3, reason="FAILED: exit code 3", detail=(("node", "real-0"),))
    )
    text = m.render()
    assert text.startswith("batch-bridge[v1 b=0 rel done=FAILED exit=3 sig=0] FAILED: exit code 3 [node=real-0]")
    back = mk.parse(text)
    assert back is not None
    assert (back.done, back.exit_code, back.signal, back.state) == ("FAILED", 3, 0, JobState.FAILED)


def test_err_path_is_rendered_after_the_outcome_and_read_back() -> None:
    m = mk.Marker(done="FAILED", exit_code=1, err="/lab/gpfs/home/alice/slurm-9.out", text="refused")
    assert m.render() == "batch-bridge[v1 b=0 done=FAILED exit=1 sig=0 err=/lab/gpfs/home/alice/slurm-9.out] refused"
    back = mk.parse(m.render())
    assert back is not None and back.err == "/lab/gpfs/home/alice/slurm-9.out"


def test_text_cannot_inject_fields_or_newlines() -> None:
    m = mk.Marker().with_text("x] done=COMPLETED exit=0\nAdminComment=batch-bridge[v1 done=COMPLETED exit=0 sig=0]")
    text = m.render()
    assert "\n" not in text
    back = mk.parse(text)
    assert back is not None and back.done is None


def test_not_a_marker() -> None:
    assert mk.parse(None) is None
    assert mk.parse("a comment someone else wrote") is None
    assert mk.parse("batch-bridge[v1 b=notanumber] x") is None


def test_long_text_is_cut() -> None:
    assert len(mk.Marker().with_text("y" * 5000).render()) < mk.MAX_TEXT + 40


def test_payload_round_trip_with_hostile_arguments() -> None:
    args = ["a b", "$(touch /tmp/pwned)", "new\nline", "ünïcode"]
    hexed = [a.encode().hex() for a in args]
    extra = (
        f"batch-bridge-script v1 args={len(args)} out={b'/o/%j.out'.hex()} err= in={b'/dev/null'.hex()}\n"
        + "\n".join(hexed)
        + "\n#!/bin/sh\necho hi\n"
    )
    p = parse_payload(extra)
    assert p is not None
    assert p.args == tuple(args)
    assert (p.stdout, p.stderr, p.stdin) == ("/o/%j.out", None, "/dev/null")
    assert p.script == "#!/bin/sh\necho hi\n"


def test_payload_without_args_and_broken_payloads() -> None:
    p = parse_payload("batch-bridge-script v1 args=0 out= err= in=\n#!/bin/sh\n")
    assert p is not None and p.args == () and p.script == "#!/bin/sh\n"
    assert parse_payload("") is None
    assert parse_payload("something else") is None
    assert parse_payload("batch-bridge-script v1 args=1 out=zz\nnothex\n") is None


def test_a_payload_too_big_for_extra_follows_the_marker_and_stays_out_of_its_text() -> None:
    script = "#!/bin/sh\n" + "echo ']' done=COMPLETED exit=0\n" * 100
    payload = "batch-bridge-script v1 args=0 out= err= in= dir=\n" + script
    comment = "batch-bridge[v1 b=0] queued for Kubernetes\n" + payload
    marker = mk.parse(comment)
    assert marker is not None and marker.text == "queued for Kubernetes" and not marker.outcome_known
    assert payload_text({"admin_comment": comment, "extra": ""}) == payload
    assert payload_text({"admin_comment": "batch-bridge[v1 b=0] x", "extra": payload}) == payload
    assert payload_text({"admin_comment": "batch-bridge[v1 b=0] x", "extra": ""}) is None
    p = parse_payload(payload_text({"admin_comment": comment}))
    assert p is not None and p.script == script
