"""`starter.py validate` and `starter.py start` agree: what validate accepts, start starts
(on the real dev server), and what validate refuses, start refuses without starting anything.

Files are generated from the seed examples, up to the schema's bounds: as many parties as
allowed (50) with ids of 80 characters, titles of 500 characters in any script, long sectors
and parent ids — sizes at which a keyword-list search attribute would exceed Temporal's 2 KB
unless it is kept within budget (workflows/visibility.py).
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from schemas.convention import MAX_PARTIES, PartyKind
from schemas.convention_file import load_convention, read_document
from schemas.values import NAME_MAX_CHARS, TITLE_MAX_CHARS
from tests.cli_runner import cli_env, run_cli, workflow_exists, write_document
from tests.conftest import EXAMPLES, renamed
from workflows import visibility
from workflows.convention import workflow_id_for

os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "pacte-hypothesis")
)
BASES = sorted(path for path in EXAMPLES.glob("*.yaml") if not path.name.endswith(".answers.yaml"))
ID_LENGTH = 80
OTHER_KINDS = [kind.value for kind in PartyKind if kind is not PartyKind.TRAINING_OFFICE]
# Letters of several scripts, up to 4 bytes each in UTF-8 (the bounds count characters).
WIDE_TEXT = st.text(
    alphabet=st.sampled_from("aé ء ب ت ⵜ 中 😀 𝔄 Kénitra-«»'\"\\"), min_size=1, max_size=40
)


def _long(draw: st.DrawFn, limit: int) -> str:
    """Text of up to `limit` characters, often right at it, never blank at either end."""
    length = draw(st.one_of(st.just(limit), st.integers(min_value=1, max_value=limit)))
    piece = draw(WIDE_TEXT).strip() or "x"
    text = (piece * (length // len(piece) + 1))[:length].strip()
    return text or "x"


def _identifier(draw: st.DrawFn, prefix: str) -> str:
    """A unique identifier, often the longest allowed."""
    length = draw(st.one_of(st.just(ID_LENGTH), st.integers(min_value=12, max_value=ID_LENGTH)))
    piece = draw(st.from_regex(r"[A-Za-z0-9._-]{1,6}", fullmatch=True))
    return (prefix + uuid.uuid4().hex[:8] + "-" + piece * ID_LENGTH)[:length]


@st.composite
def convention_files(draw: st.DrawFn) -> dict[str, Any]:
    """A seed example, renamed, with many long parties, a long title, sector and parent."""
    base = renamed(load_convention(draw(st.sampled_from(BASES))))
    data = copy.deepcopy(base.model_dump(mode="json"))
    data["title"] = _long(draw, TITLE_MAX_CHARS)
    if draw(st.booleans()):
        data["sector"] = _long(draw, NAME_MAX_CHARS)
    if draw(st.booleans()):
        data["parent"] = _identifier(draw, "parent-")
    room = MAX_PARTIES - len(data["parties"])
    for index in range(draw(st.one_of(st.just(room), st.integers(min_value=0, max_value=room)))):
        data["parties"].append(
            {
                "id": _identifier(draw, f"p{index:02d}-"),
                "name": _long(draw, NAME_MAX_CHARS),
                "kind": draw(st.sampled_from(OTHER_KINDS)),
                "country": draw(st.from_regex(r"[A-Z]{2}", fullmatch=True)),
                "contacts": [
                    {"name": _long(draw, NAME_MAX_CHARS), "email": f"c{index}@partner.example"}
                ],
            }
        )
    return data


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
)
@given(data=convention_files(), suffix=st.sampled_from([".yaml", ".json"]))
async def test_start_starts_every_file_validate_accepts_and_nothing_it_refuses(
    client: Client,
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    data: dict[str, Any],
    suffix: str,
) -> None:
    env = cli_env(dev_env, postgres_url)
    with tempfile.TemporaryDirectory() as directory:
        file = write_document(data, Path(directory) / f"generated{suffix}")
        # Side by side (validate reads the file and nothing else): one example's time is the
        # slower command's, not the sum; each is still the officer's own fresh process.
        validated, started = await asyncio.gather(
            run_cli("validate", str(file), env=env),
            run_cli("start", "--allow-missing-parent", str(file), env=env),
        )

    assert "Traceback" not in validated.stderr + started.stderr, (validated, started)
    assert validated.code in (0, 1), validated
    if validated.code == 1:
        assert started.code == 1, started
        assert not await workflow_exists(client, data["id"])
        return
    assert started.code == 0, started
    assert started.stdout == f"{workflow_id_for(data['id'])}\n", started
    handle = client.get_workflow_handle(workflow_id_for(data["id"]))
    description = await handle.describe()
    parties = description.typed_search_attributes.get(visibility.PARTIES) or []
    office = next(party for party in data["parties"] if party["kind"] == "training_office")
    assert parties[0] == office["id"].lower()
    assert len(parties) <= len(data["parties"])
    await handle.terminate(reason="generated convention: started, that is all we check")


async def test_the_largest_convention_the_schema_allows_starts_and_is_listed_by_its_office(
    client: Client, dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    data = renamed(load_convention(EXAMPLES / "cycle-maalam.yaml")).model_dump(mode="json")
    data["title"] = ("اتفاقية 😀 " * 100)[:TITLE_MAX_CHARS]
    data["sector"] = "𝔄" * NAME_MAX_CHARS
    data["parent"] = "f" * ID_LENGTH
    while len(data["parties"]) < MAX_PARTIES:
        index = len(data["parties"])
        data["parties"].append(
            {"id": f"p{index:02d}" + "x" * (ID_LENGTH - 3), "name": "Partenaire", "kind": "company"}
        )
    file = write_document(data, tmp_path / "largest.json")
    env = cli_env(dev_env, postgres_url)

    validated = await run_cli("validate", str(file), env=env)
    started = await run_cli("start", "--allow-missing-parent", str(file), env=env)

    assert validated.code == 0, validated
    assert started.code == 0, started
    handle = client.get_workflow_handle(workflow_id_for(data["id"]))
    attributes = (await handle.describe()).typed_search_attributes
    parties = attributes.get(visibility.PARTIES) or []
    assert parties[0] == "ofppt"
    assert 1 < len(parties) < MAX_PARTIES  # the rest did not fit Temporal's 2 KB
    assert attributes.get(visibility.PARENT) == "f" * ID_LENGTH
    sector = attributes.get(visibility.SECTOR) or ""
    assert 0 < len(sector) < NAME_MAX_CHARS and set(sector) == {"𝔄"}  # as much as fits
    search = ("--party", "OFPPT", "--parent", "f" * ID_LENGTH, "--sector", data["sector"])
    listed = await run_cli("list", *search, env=env)
    for _ in range(40):
        if data["id"] in listed.stdout:
            break
        listed = await run_cli("list", *search, env=env)
    assert data["id"] in listed.stdout, listed
    await handle.terminate(reason="largest convention: started, that is all we check")


def test_bases_are_the_seed_examples() -> None:
    assert BASES and all(isinstance(read_document(path), dict) for path in BASES)
