"""Convention data in Temporal's histories is encrypted by the payload codec (AES-256-GCM).

Specifications:
- the codec encrypts every payload with a fresh nonce under the first key, names the key in
  the payload, decrypts with the key it names, passes plaintext payloads through, and refuses
  an unknown key id, a wrong key, an altered or relabelled ciphertext with an error naming the
  key id, never a key;
- a convention run with a key leaves no plaintext of its amounts, contacts or comments in the
  history the Temporal server keeps, while the status query, `audit.py timeline`, `replay`
  and `verify` read it with the key, and fail with one clear line without it;
- keys rotate: a convention started under key A finishes under `B (encrypts), A`, and its
  history, half A half B, reads with both keys configured;
- the codec endpoint speaks Temporal's remote codec protocol (the Temporal CLI decodes a
  history through it), answers CORS for the Web UI only, and requires its bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_open_task, convention_status, start_convention
from application.scenarios import play_scenario
from auditing.histories import TemporalHistories
from auditing.verify import verify_convention
from devkit.programs import PYTHON, run_program
from infra.database import create_pool
from infra.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadDecryptionError,
    PayloadKey,
)
from infra.secrets import SecretError, payload_keys
from infra.settings import PROJECT_ROOT, load_settings
from infra.temporal_client import data_converter
from schemas.convention import Contact, Convention, DiagnosticStage, FundingRequestStage
from schemas.convention_file import AnswerScript, load_answer_script
from schemas.status import ConventionState
from schemas.values import Language
from tests.cli_runner import cli_env
from tests.conftest import EXAMPLES, _search_attribute_keys, example, venv_binary
from tests.security_stack import (
    cli_json_bytes,
    codec_of,
    converter_for,
    decrypted_bytes,
    found_in,
    history_bytes,
    keys_setting,
    new_key,
    payloads_in,
    private_database,
    temporal_show,
)
from worker import build_worker
from workflows.convention import workflow_id_for

ARABIC_COMMENT = "يرجى تفصيل التكلفة حسب كل مركز وتحديد مساهمة الدولة المالية"
JEDDAH = Contact(
    name="مكتب جدة – Bureau de Jeddah", email="jeddah@isdb.example", language=Language.ARABIC
)
# What the seed convention and its answers say that nobody without the key may read.
CONFIDENTIAL = (
    "Drissa GUINDO",  # a contact
    "jeddah@isdb.example",  # a contact's address
    "مكتب جدة",  # a contact's name, in Arabic
    "40000000",  # the amount requested
    "36000000",  # the amount granted
    ARABIC_COMMENT,  # a funder's comment
    "Agriculture/Agro-alimentaire",  # the findings
    "Djatiguiya",  # the host's comment on the mission
    "البنك الإسلامي للتنمية",  # a party's name
)


def found(blob: bytes, texts: tuple[str, ...] = CONFIDENTIAL) -> list[str]:
    """The confidential texts present in blob, in any spelling."""
    return found_in(blob, texts)


def key_ids_in(history: WorkflowHistory) -> set[str]:
    """The key ids the history's encrypted payloads name."""
    return {
        payload.metadata[KEY_ID_METADATA].decode()
        for event in history.events
        for payload in payloads_in(event)
        if KEY_ID_METADATA in payload.metadata
    }


# --- the codec alone ------------------------------------------------------------------


def plain_payload(text: str) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([{"comments": text}])[0]


async def test_codec_encrypts_each_payload_afresh_and_decrypts_it_back() -> None:
    codec = EncryptionCodec([PayloadKey(*new_key("k1")), PayloadKey(*new_key("k0"))])
    original = plain_payload(ARABIC_COMMENT)
    first, second = await codec.encode([original, original])
    assert first.metadata["encoding"] == ENCODING
    assert first.metadata[KEY_ID_METADATA] == b"k1"  # the first key encrypts
    assert first.data[:12] != second.data[:12]  # a fresh nonce for each payload
    assert first.data != second.data
    assert not found(first.data + second.data, (ARABIC_COMMENT,))
    assert await codec.decode([first, second]) == [original, original]


async def test_failure_messages_and_stack_traces_are_encrypted_too() -> None:
    converter = converter_for(KEY_A)
    failure = Failure()
    await converter.encode_failure(ValueError(f"answer.comments: {ARABIC_COMMENT}"), failure)
    assert failure.message == "Encoded failure" and not failure.stack_trace
    assert failure.encoded_attributes.metadata[KEY_ID_METADATA] == b"ka"
    assert found(failure.SerializeToString()) == []
    assert ARABIC_COMMENT in str(await converter.decode_failure(failure))


async def test_codec_passes_through_payloads_it_did_not_encrypt() -> None:
    codec = EncryptionCodec([PayloadKey(*new_key("k1"))])
    older = plain_payload("a history from before encryption")
    assert await codec.decode([older]) == [older]


async def test_codec_refuses_unknown_wrong_or_altered_payloads_naming_only_the_key_id() -> None:
    key_id, key = new_key("k-2026")
    codec = EncryptionCodec([PayloadKey(key_id, key)])
    [sealed] = await codec.encode([plain_payload("Financement accordé")])
    key_forms = [base64.b64encode(key).decode(), key.hex()]

    def refused(other: EncryptionCodec, payload: Payload) -> str:
        with pytest.raises(PayloadDecryptionError) as caught:
            other.decrypt(payload)
        message = str(caught.value)
        assert "k-2026" in message and caught.value.key_id == "k-2026"
        assert not any(form in message for form in key_forms)
        return message

    # Unknown key id: the configuration lacks the key this history names.
    assert "not configured" in refused(EncryptionCodec([PayloadKey(*new_key("k-2027"))]), sealed)
    # Another key under the same id: the wrong key.
    assert "does not decrypt" in refused(
        EncryptionCodec([PayloadKey("k-2026", os.urandom(32))]), sealed
    )
    # One bit flipped in the ciphertext.
    altered = Payload()
    altered.CopyFrom(sealed)
    altered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    assert "altered" in refused(codec, altered)
    # Truncated.
    truncated = Payload()
    truncated.CopyFrom(sealed)
    truncated.data = sealed.data[:20]
    assert "truncated" in refused(codec, truncated)
    # Relabelled: a ciphertext moved under another configured key id fails too (the key id
    # is authenticated data), even where that id's key is the same bytes.
    twin = EncryptionCodec([PayloadKey("k-2026", key), PayloadKey("k-other", key)])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID_METADATA] = b"k-other"
    with pytest.raises(PayloadDecryptionError, match="k-other"):
        twin.decrypt(relabelled)


def test_payload_keys_come_from_the_environment_or_the_secrets_file_first_one_encrypting(
    tmp_path: Path,
) -> None:
    a, b = new_key("ka"), new_key("kb")
    with mock.patch.dict(os.environ, {"PACTE_PAYLOAD_KEYS": keys_setting(b, a)}):
        assert [(k.key_id, k.key) for k in payload_keys(None)] == [b, a]
        assert codec_of(data_converter(load_settings())).encrypting_key_id == "kb"
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[payload_keys]\n"
        + "".join(f'{key_id} = "{base64.b64encode(key).decode()}"\n' for key_id, key in (a, b)),
        encoding="utf-8",
    )
    with mock.patch.dict(os.environ, {"PACTE_PAYLOAD_KEYS": ""}):
        assert [(k.key_id, k.key) for k in payload_keys(secrets_file)] == [a, b]
        # Nothing configured: no codec at all, plaintext as before encryption existed.
        assert payload_keys(None) == []
        assert data_converter(load_settings()) is pydantic_data_converter


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("{key}", "entry 1 is not id:base64key"),
        ("ok:{key},{key}", "entry 2 is not id:base64key"),
        ("k1:{key}!!", "key 'k1' is not base64"),
        ("k1:" + base64.b64encode(b"short-key-sixteen").decode(), "17 bytes"),
        ("k1:{key},k1:{key}", "'k1' is given twice"),
        ("bad id:{key}", "entry 1: its key id is not"),
    ],
)
def test_malformed_payload_keys_are_refused_without_showing_the_key(
    setting: str, expected: str
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    with (
        mock.patch.dict(os.environ, {"PACTE_PAYLOAD_KEYS": setting.format(key=key)}),
        pytest.raises(SecretError) as caught,
    ):
        data_converter(load_settings())
    assert expected in str(caught.value)
    assert key not in str(caught.value) and key[:12] not in str(caught.value)


# --- a convention on a real server, with a key ------------------------------------------


KEY_A = new_key("ka")
KEY_B = new_key("kb")
TASK_QUEUE = "pacte-sealed"


def sealed_bamako() -> tuple[Convention, AnswerScript]:
    """Bamako (mission, diagnostic, funding request) with a Jeddah contact and an Arabic
    comment from the funder; its follow-up convention left out."""
    convention = example("bamako-cooperation")
    stages = [
        spec.model_copy(update={"follow_ups": []}) if isinstance(spec, DiagnosticStage) else spec
        for spec in convention.stages
    ]
    parties = [
        party.model_copy(update={"contacts": [*party.contacts, JEDDAH]})
        if party.id == "bid"
        else party
        for party in convention.parties
    ]
    script = load_answer_script(EXAMPLES / "bamako-cooperation.answers.yaml")
    answers = [
        step.model_copy(update={"answer": {**step.answer, "comments": ARABIC_COMMENT}})
        if step.task == "funding_request.decision.r1"
        else step
        for step in script.answers
        if step.follow_up is None
    ]
    return (
        convention.model_copy(update={"stages": stages, "parties": parties}),
        script.model_copy(update={"answers": answers}),
    )


@dataclass(frozen=True)
class SealedStack:
    """A dev server and a database of their own, and a convention run to completion under
    KEY_A by a worker that stays up."""

    address: str
    database_url: str
    pool: asyncpg.Pool
    convention: Convention
    client_a: Client
    plain: Client

    def env(self, *keys: tuple[str, bytes]) -> dict[str, str]:
        """An officer's or an auditor's environment, with these payload keys (or none)."""
        env = cli_env(temporal=self.address, postgres_url=self.database_url)
        env["PACTE_TASK_QUEUE"] = TASK_QUEUE
        if keys:
            env["PACTE_PAYLOAD_KEYS"] = keys_setting(*keys)
        return env


@pytest_asyncio.fixture(scope="module")
async def sealed(postgres_url: str) -> AsyncIterator[SealedStack]:
    # Servers of their own: encrypted conventions stay out of the other tests' way.
    database_url = await private_database(postgres_url, "pacte_sealed")
    pool = await create_pool(database_url, max_size=4)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=_search_attribute_keys(),
        dev_server_log_level="error",
    )
    try:
        address = env.client.service_client.config.target_host
        client_a = await Client.connect(address, data_converter=converter_for(KEY_A))
        plain = await Client.connect(address, data_converter=pydantic_data_converter)
        convention, script = sealed_bamako()
        async with build_worker(client_a, pool, TASK_QUEUE):
            await play_scenario(client_a, TASK_QUEUE, convention, script)
            yield SealedStack(address, database_url, pool, convention, client_a, plain)
    finally:
        await env.shutdown()
        await pool.close()


async def test_history_keeps_only_ciphertext_of_amounts_contacts_and_comments(
    sealed: SealedStack,
) -> None:
    workflow_id = workflow_id_for(sealed.convention.id)
    # Fetched without the codec: what the server, its database and its Web UI hold.
    history = await sealed.plain.get_workflow_handle(workflow_id).fetch_history()
    assert found(history_bytes(history)) == []
    assert key_ids_in(history) == {"ka"}
    # The same through the Temporal CLI's JSON, payloads decoded from base64.
    assert found(cli_json_bytes(await temporal_show(sealed.address, workflow_id))) == []
    # The check has teeth: decrypted, the very same payloads say every one of them.
    assert found(decrypted_bytes(history, codec_of(converter_for(KEY_A)))) == list(CONFIDENTIAL)


async def test_with_the_key_the_status_query_and_the_auditors_commands_read_the_history(
    sealed: SealedStack,
) -> None:
    status = await convention_status(sealed.client_a, sealed.convention.id)
    assert status.state is ConventionState.COMPLETED
    assert any(
        ARABIC_COMMENT in json.dumps(m.details, ensure_ascii=False) for m in status.milestones
    )
    history = await TemporalHistories(sealed.client_a).history(sealed.convention.id)
    report = await verify_convention(
        sealed.pool, sealed.convention.id, history, "test", converter_for(KEY_A)
    )
    assert report.ok and report.rows == len(status.milestones), report

    env = sealed.env(KEY_A)
    timeline, replay, shown = await asyncio.gather(
        run_program("audit.py", "timeline", sealed.convention.id, "--format", "json", env=env),
        run_program("audit.py", "replay", sealed.convention.id, env=env),
        run_program("starter.py", "status", sealed.convention.id, "--json", env=env),
    )
    assert timeline.code == 0, timeline
    assert ARABIC_COMMENT in timeline.stdout and "Drissa GUINDO" in timeline.stdout
    assert replay.code == 0 and replay.stdout.startswith("ok "), replay
    assert shown.code == 0 and ARABIC_COMMENT in shown.stdout, shown


async def test_without_the_key_the_commands_say_so_in_one_line_and_show_nothing(
    sealed: SealedStack,
) -> None:
    wrong = ("ka", os.urandom(32))  # the right id, another key
    cases = [
        ((), "audit.py", "timeline", "key id 'ka' and no payload key is configured"),
        ((), "starter.py", "status", "no payload key is configured"),
        ((wrong,), "audit.py", "timeline", "key id 'ka' does not decrypt"),
        ((wrong,), "starter.py", "status", "key id 'ka' does not decrypt"),
        ((KEY_B,), "audit.py", "timeline", "key id 'ka', which is not configured"),
    ]
    runs = await asyncio.gather(
        *(
            run_program(program, command, sealed.convention.id, env=sealed.env(*keys))
            for keys, program, command, _ in cases
        ),
        run_program("audit.py", "replay", sealed.convention.id, env=sealed.env(wrong)),
    )
    for (keys, _, _, expected), run in zip(cases, runs, strict=False):
        assert run.code == 2, run
        assert run.stdout == "" and len(run.stderr.splitlines()) == 1, run
        assert run.stderr.startswith("unreadable: ") and expected in run.stderr, run
        assert found(run.output.encode()) == []
        assert all(base64.b64encode(key).decode() not in run.output for _, key in keys)
    # Replay reports the run as failing, with the reason, rather than crash.
    replay = runs[-1]
    assert replay.code == 1 and replay.stdout.startswith("FAIL "), replay
    assert "key id 'ka' does not decrypt" in replay.stdout, replay
    assert base64.b64encode(wrong[1]).decode() not in replay.output


async def test_keys_rotate_a_convention_started_under_a_finishes_under_b_and_reads_with_both(
    sealed: SealedStack,
) -> None:
    bamako, _ = sealed_bamako()
    funding = next(s for s in bamako.stages if isinstance(s, FundingRequestStage))
    convention = bamako.model_copy(update={"id": f"rotation-{bamako.id}", "stages": [funding]})
    client_ba = await Client.connect(sealed.address, data_converter=converter_for(KEY_B, KEY_A))
    queue = f"{TASK_QUEUE}-rotation"
    async with build_worker(sealed.client_a, sealed.pool, queue):
        await start_convention(sealed.client_a, convention, queue)
        await answer_open_task(
            sealed.client_a,
            convention.id,
            "funding_request.decision.r1",
            "bid",
            {"decision": "more_information", "comments": ARABIC_COMMENT},
            wait_seconds=20,
        )
        await convention_status(sealed.client_a, convention.id)  # the answer is recorded
    # The key is rotated: workers now encrypt with B and still decrypt A.
    async with build_worker(client_ba, sealed.pool, queue):
        await answer_open_task(
            client_ba,
            convention.id,
            "funding_request.information.r1",
            "ofppt",
            {"document": {"uri": "archive:tdr-v2.pdf"}, "comments": "TdR v2"},
            wait_seconds=20,
        )
        await answer_open_task(
            client_ba,
            convention.id,
            "funding_request.decision.r2",
            "bid",
            {"decision": "approve", "granted": {"amount": 36000000, "currency": "IsDB-ID"}},
            wait_seconds=20,
        )
        await client_ba.get_workflow_handle(workflow_id_for(convention.id)).result()
        status = await convention_status(client_ba, convention.id)
    assert status.state is ConventionState.COMPLETED
    history = await sealed.plain.get_workflow_handle(workflow_id_for(convention.id)).fetch_history()
    assert key_ids_in(history) == {"ka", "kb"}
    first = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert first.metadata[KEY_ID_METADATA] == b"ka"
    assert found(history_bytes(history)) == []

    both = sealed.env(KEY_B, KEY_A)
    timeline, replay, only_b = await asyncio.gather(
        run_program("audit.py", "timeline", convention.id, env=both),
        run_program("audit.py", "replay", convention.id, env=both),
        run_program("audit.py", "timeline", convention.id, env=sealed.env(KEY_B)),
    )
    assert timeline.code == 0 and ARABIC_COMMENT in timeline.stdout, timeline
    assert replay.code == 0, replay
    assert only_b.code == 2 and "key id 'ka'" in only_b.stderr, only_b


# --- the codec endpoint ------------------------------------------------------------------

CODEC_TOKEN = "codec-token-" + base64.urlsafe_b64encode(os.urandom(12)).decode()


@pytest_asyncio.fixture(scope="module")
async def codec_endpoint() -> AsyncIterator[str]:
    env = cli_env()
    env["PACTE_PAYLOAD_KEYS"] = keys_setting(KEY_A)
    env["PACTE_CODEC_TOKEN"] = CODEC_TOKEN
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "codec_server.py",
        "--port",
        "0",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    assert line.startswith("codec server listening on "), line
    try:
        yield line.removeprefix("codec server listening on ").strip()
    finally:
        process.terminate()
        _, stderr = await process.communicate()
        # Its own log never shows a key or the token.
        assert CODEC_TOKEN.encode() not in stderr
        assert base64.b64encode(KEY_A[1]) not in stderr


def as_json(*payloads: Payload) -> dict[str, Any]:
    """The protocol's body: {"payloads": [...]} in protobuf JSON."""
    document: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return document


def from_json(document: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(document, Payloads()).payloads)


async def test_codec_endpoint_encodes_and_decodes_over_http_for_token_holders(
    codec_endpoint: str,
) -> None:
    original = plain_payload(ARABIC_COMMENT)
    bearer = {"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "default"}
    async with httpx.AsyncClient(base_url=codec_endpoint, timeout=10) as http:
        encoded = await http.post("/encode", json=as_json(original), headers=bearer)
        assert encoded.status_code == 200, encoded.text
        [sealed] = from_json(encoded.json())
        assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_METADATA] == b"ka"
        assert found(sealed.SerializeToString(), (ARABIC_COMMENT,)) == []
        for path in ("/decode", "/default/decode"):  # the CLI's {namespace} form too
            decoded = await http.post(path, json=as_json(sealed), headers=bearer)
            assert decoded.status_code == 200, decoded.text
            assert from_json(decoded.json()) == [original]

        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": CODEC_TOKEN}):
            refused = await http.post("/decode", json=as_json(sealed), headers=headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert CODEC_TOKEN not in refused.text and ARABIC_COMMENT not in refused.text

        altered = Payload()
        altered.CopyFrom(sealed)
        altered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
        bad = await http.post("/decode", json=as_json(altered), headers=bearer)
        assert bad.status_code == 400 and "key id 'ka'" in bad.json()["error"]
        garbage = await http.post("/decode", content=b"not json", headers=bearer)
        assert garbage.status_code == 400


async def test_codec_endpoint_answers_cors_for_the_web_ui_only(codec_endpoint: str) -> None:
    async with httpx.AsyncClient(base_url=codec_endpoint, timeout=10) as http:
        ui = await http.options(
            "/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert ui.status_code == 204
        assert ui.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        assert "authorization" in ui.headers["Access-Control-Allow-Headers"]
        assert "x-namespace" in ui.headers["Access-Control-Allow-Headers"]
        assert ui.headers["Access-Control-Allow-Credentials"] == "true"
        elsewhere = await http.options("/decode", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in elsewhere.headers


async def test_the_temporal_cli_decodes_a_history_through_the_codec_endpoint(
    sealed: SealedStack, codec_endpoint: str
) -> None:
    workflow_id = workflow_id_for(sealed.convention.id)
    decoded = await temporal_show(
        sealed.address,
        workflow_id,
        "--codec-endpoint",
        codec_endpoint,
        "--codec-auth",
        f"Bearer {CODEC_TOKEN}",
    )
    assert found(cli_json_bytes(decoded)) == list(CONFIDENTIAL)
