"""Every error of a convention file in one pass: pydantic's field errors and the references
that do not resolve (unknown parties and signatories, ids given twice, a stage's failure path,
a convention its own parent), each with the line and column of its field in the file —
through `starter.py validate`, `starter.py start` and the office desk's upload alike.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from application.errors import InvalidInput
from application.office.starting import read_upload
from schemas.convention_file import load_convention, read_document
from schemas.errors import FieldError, InputError
from tests.cli_runner import cli_env, run_cli
from tests.conftest import EXAMPLES

TEN_MISTAKES = {
    "title": "Field required",
    "kind": "Input should be",
    "officer.email": "not a valid email address",
    "parties.1.country": "String should match pattern",
    "parties": "'dfp' appears twice",
    "signatories.0.party": "unknown party 'nobody'",
    "stages.0.due_in_days": "greater than or equal to 1",
    "stages.1.signatories.5": "unknown signatory 'ghost'",
    "stages.1.on_failure": "neither 'end' nor a declared stage",
    "parent": "cannot be its own parent",
}


def ten_mistakes() -> dict[str, Any]:
    """The Tangier file with ten mistakes: five only pydantic sees, five found after it."""
    data: dict[str, Any] = copy.deepcopy(read_document(EXAMPLES / "tanger-four-conventions.yaml"))
    del data["title"]
    data["kind"] = "treaty"
    data["officer"]["email"] = "chargé de coopération"
    data["parties"][1]["country"] = "Maroc"
    data["parties"].append(dict(data["parties"][2]))  # dfp, twice
    data["signatories"][0]["party"] = "nobody"
    data["stages"][0]["due_in_days"] = 0
    data["stages"][1]["signatories"].append("ghost")
    data["stages"][1]["on_failure"] = "negotiation"
    data["parent"] = data["id"]
    return data


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("ten-mistakes")
    data = ten_mistakes()
    as_yaml = directory / "ten.yaml"
    as_yaml.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    as_json = directory / "ten.json"
    as_json.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
    return {"yaml": as_yaml, "json": as_json}


def _at(text: str, error: FieldError) -> str:
    assert error.line and error.column, error
    return text.splitlines()[error.line - 1][error.column - 1 :]


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_a_file_with_ten_mistakes_is_refused_with_all_ten_each_at_its_line_and_column(
    kind: str, files: dict[str, Path]
) -> None:
    path = files[kind]
    text = path.read_text("utf-8")

    with pytest.raises(InputError) as refused:
        load_convention(path)

    errors = refused.value.errors
    assert {error.field for error in errors} == set(TEN_MISTAKES), errors
    assert len(errors) == 10, errors
    for error in errors:
        assert TEN_MISTAKES[error.field] in error.reason, error
        assert f"(line {error.line}, column {error.column})" in str(error)
    by_field = {error.field: error for error in errors}
    # The value at fault, where the file holds it; a missing title, at the top.
    assert _at(text, by_field["kind"]).lstrip('"').startswith("treaty")
    assert _at(text, by_field["signatories.0.party"]).lstrip('"').startswith("nobody")
    assert _at(text, by_field["stages.1.signatories.5"]).lstrip('"').startswith("ghost")
    assert _at(text, by_field["stages.0.due_in_days"]).startswith("0")
    assert (by_field["title"].line, by_field["title"].column) == (1, 1)


async def test_validate_and_start_both_list_the_ten_in_one_run_and_start_nothing(
    files: dict[str, Path],
) -> None:
    env = cli_env()
    validated = await run_cli("validate", str(files["yaml"]), env=env)
    started = await run_cli("start", str(files["yaml"]), env=env)

    for run in (validated, started):
        assert run.code == 1, run
        assert run.stderr_lines[0] == f"refused: {files['yaml']}", run
        listed = run.stderr_lines[1:]
        assert len(listed) == 10, run
        assert all(" (line " in line for line in listed), run
    assert validated.stderr == started.stderr


def test_the_desk_upload_lists_the_same_ten_with_their_positions(files: dict[str, Path]) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_upload(files["json"].read_bytes(), "ten.json")
    with pytest.raises(InputError) as loaded:
        load_convention(files["json"])

    assert [str(e) for e in refused.value.errors] == [str(e) for e in loaded.value.errors]
    assert len(refused.value.errors) == 10


def test_a_reference_is_checked_even_when_the_stage_naming_it_has_a_bad_field() -> None:
    data = ten_mistakes()
    data["stages"][0]["reviewers"].append("renault")  # drafting, whose due_in_days is 0 too
    with pytest.raises(InputError) as refused:
        load_convention_from(data)

    by_field = {error.field: error.reason for error in refused.value.errors}
    assert by_field["stages.0.reviewers.4"] == "unknown party 'renault'"
    assert "stages.0.due_in_days" in by_field


def test_a_mission_ending_before_it_starts_is_said_beside_another_field_error() -> None:
    data = copy.deepcopy(read_document(EXAMPLES / "mre-academy.yaml"))
    mission = data["stages"][2]
    mission["starts_on"], mission["ends_on"] = "2021-02-08", "2021-02-01"
    mission["delegation"] = []  # too short: pydantic stops before the mission's own check
    with pytest.raises(InputError) as refused:
        load_convention_from(data)

    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("stages.2.delegation", "too_short"),
        ("stages.2.ends_on", "ends_before_start"),
    ]


def test_an_unknown_stage_does_not_make_every_failure_path_an_error() -> None:
    data = copy.deepcopy(read_document(EXAMPLES / "tanger-four-conventions.yaml"))
    data["stages"][1]["stage"] = "negotiation"
    with pytest.raises(InputError) as refused:
        load_convention_from(data)

    assert [error.field for error in refused.value.errors] == ["stages.1"]


def load_convention_from(data: dict[str, Any]) -> Any:
    from schemas.convention_file import checked_convention

    return checked_convention(data, "generated")
