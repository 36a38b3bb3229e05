"""slurmrestd's error bodies -> the text users see: both of Slurm's fields, and the error numbers."""

from __future__ import annotations

import json

from adapters.slurm.transport import SlurmError, _errors


def _body(*errors: dict[str, object]) -> bytes:
    return json.dumps({"errors": list(errors)}).encode()


def test_both_fields_are_kept_error_first() -> None:
    body = _body({"error": "Invalid partition name specified", "description": "Job submission failed",
                  "error_number": 2015})  # fmt: skip
    assert _errors(body) == ("Invalid partition name specified: Job submission failed", [2015])


def test_one_field_or_the_same_text_twice_is_said_once() -> None:
    assert _errors(_body({"description": "Unspecified error"})) == ("Unspecified error", [])
    assert _errors(_body({"error": "Unspecified error", "description": "Unspecified error"}))[0] == "Unspecified error"


def test_several_errors_and_junk() -> None:
    text, numbers = _errors(_body({"error": "a", "error_number": 1}, {"error": "b", "error_number": 2}))
    assert (text, numbers) == ("a; b", [1, 2])
    assert _errors(b"<html>busy</html>") == ("<html>busy</html>", [])
    assert _errors(b"{}") == ("no detail", [])


def test_slurm_error_keeps_slurms_text_apart() -> None:
    exc = SlurmError("slurmrestd POST /x: HTTP 500: boom", [9], "boom", 500)
    assert (exc.detail, exc.status, exc.numbers, str(exc)) == ("boom", 500, (9,), "slurmrestd POST /x: HTTP 500: boom")
