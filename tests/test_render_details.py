"""The details that were still English sentences under a translated frame (issue 24): a task
found cancelled as `starter.py act` says it, the office's delivery details, the desks' error
pages' details and the review page's "no comparison" — each said in the reader's language
from a code and its values, an unknown one shown as recorded and marked so."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import get_args

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from application.cli_support import STARTER_ERRORS
from application.conventions import why_not_open
from application.directory.people import _check_dates, _no_active_person
from application.documents import NO_TEXT, text_unavailable
from application.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LinkUnusable,
    NotFound,
    PacteError,
    Refused,
    Unauthenticated,
)
from application.office.actions import _not_open
from application.office.overview import _detail, _missing_channels
from application.partner.links import _withdrawn
from documents import text as document_text
from documents.intake import PDF
from documents.text import TextUnavailable
from rendering.catalogue_check import load
from rendering.catalogues import N_, gettext
from rendering.deliveries import (
    ALREADY_DELIVERED,
    SENTENCES,
    WORDING,
    delivery_detail,
    read_back,
    written,
)
from rendering.details import DETAILS, error_detail
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, word
from rendering.record import PartyNames
from rendering.validation import reason_text
from schemas import tasks as tasks_schema
from schemas.channels import (
    Channel,
    DeliveryDetail,
    DeliveryDetailCode,
    DeliveryOutcome,
    DeliveryStatus,
)
from schemas.errors import DetailCode, FieldError, InputError, Reason, coded_detail
from schemas.reasons import ReasonCode, ReasonFacts
from schemas.status import TaskLookup
from schemas.tasks import Task, TaskKind, TaskStatus
from web.forms import DECISIONS
from web.office import office_error, placed_refusal
from web.pages import error_page
from web.problems import status_and_title
from web.rendering import render

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ISOLATED = re.compile(f"{FIRST_STRONG_ISOLATE}.*?{POP_DIRECTIONAL_ISOLATE}")


def outside_the_data(text: str) -> str:
    return ISOLATED.sub("", text)


def _cancelled(reason: str | None, facts: ReasonFacts | None) -> Task:
    return Task(
        id="funding_request.decision.r1",
        convention_id="bamako-2026",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title="Decide on the funding request of 40000000 IsDB-ID",
        assigned_at=NOW,
        due_at=NOW,
        status=TaskStatus.CANCELLED,
        closed_reason=reason,
        closed_reason_facts=facts,
    )


TERMINATED = _cancelled(
    "convention terminated: the programme ended",
    ReasonFacts.of(ReasonCode.CONVENTION_TERMINATED, reason="the programme ended"),
)


# --- 1. starter.py act: an answer to a task found cancelled ---------------------------------


def test_a_task_found_cancelled_says_why_in_the_readers_language() -> None:
    why = why_not_open(TaskLookup(task_id=TERMINATED.id, task=TERMINATED))
    assert str(why) == (
        "no open task 'funding_request.decision.r1': cancelled "
        "(convention terminated: the programme ended)"
    )
    assert reason_text(why, "en") == str(why)
    french = reason_text(why, "fr")
    assert french == (
        "la tâche funding_request.decision.r1 a été annulée : "
        "convention close : the programme ended"
    )
    arabic = reason_text(why, "ar")
    # What the officer wrote stays as written (isolated); the rest is Arabic.
    assert "the programme ended" in arabic and "أُنهيت الاتفاقية" in arabic
    assert not LATIN_WORD.search(outside_the_data(arabic)), arabic


def test_a_reason_written_before_typed_reasons_is_read_back_or_marked_as_recorded() -> None:
    old = _cancelled("convention terminated: the programme ended", None)
    french = reason_text(why_not_open(TaskLookup(task_id=old.id, task=old)), "fr")
    assert "convention close : the programme ended" in french
    unread = _cancelled("(a wording no pattern reads)", None)
    said = reason_text(why_not_open(TaskLookup(task_id=unread.id, task=unread)), "fr")
    assert said.startswith("la tâche funding_request.decision.r1 a été annulée : ")
    assert "(a wording no pattern reads)" in said
    bare = _cancelled(None, None)
    assert reason_text(why_not_open(TaskLookup(task_id=bare.id, task=bare)), "fr") == (
        "la tâche funding_request.decision.r1 a été annulée"
    )


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"PACTE_LANG": "fr"}, "  task: la tâche funding_request.decision.r1 a été annulée : "),
        ({"LANG": "ar_MA.UTF-8"}, "  task: أُلغيت المهمة"),
        ({"LANG": "C.UTF-8"}, "  task: no open task 'funding_request.decision.r1': cancelled"),
    ],
)
def test_starter_act_says_a_cancelled_task_in_the_shells_language(
    environment: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("PACTE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    why = why_not_open(TaskLookup(task_id=TERMINATED.id, task=TERMINATED))
    error = InputError("convention bamako-2026", [FieldError("task", why)])

    assert STARTER_ERRORS.report(error) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "refused: convention bamako-2026"  # read by scripts, in every language
    assert lines[1].startswith(expected), lines
    if "ar" in environment.get("LANG", ""):
        assert not LATIN_WORD.search(outside_the_data(lines[1].removeprefix("  task: ")))


# --- 4. the review page's "no comparison" -------------------------------------------------


def _no_comparison(error: TextUnavailable, language: str) -> str:
    """As the review page says it: `_(because)|format(**values)` (web/templates/_documents.html)."""
    because, values = text_unavailable(error)
    return gettext(language, because) % values


def test_a_pdf_pdftotext_cannot_read_is_said_in_the_pages_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: "/usr/bin/pdftotext")
    monkeypatch.setattr(
        subprocess,
        "run",
        lambda *_args, **_kwargs: subprocess.CompletedProcess([], 1, b"", b"Syntax Error"),
    )
    with pytest.raises(TextUnavailable) as raised:
        document_text.extract_text(b"%PDF-1.7 nothing else", PDF)
    error = raised.value
    assert str(error) == "pdftotext cannot read this PDF (exit 1)"  # the log's English
    assert _no_comparison(error, "fr") == (
        "le texte ne peut pas être extrait : ce PDF ne peut pas être lu (erreur 1)"
    )
    arabic = _no_comparison(error, "ar")
    assert arabic == "لا يمكن استخراج النص: تتعذر قراءة ملف PDF هذا (الخطأ 1)"
    assert _no_comparison(error, "en") == (
        "the text cannot be extracted: this PDF cannot be read (error 1)"
    )


def test_every_text_extraction_failure_has_its_sentence_and_an_unknown_one_is_marked() -> None:
    for code, message in NO_TEXT.items():
        for language in ("fr", "ar"):
            assert gettext(language, message) != message, (code, language)
    unknown = TextUnavailable("a_later_code", "something new went wrong")
    assert _no_comparison(unknown, "fr") == (
        "le texte ne peut pas être extrait (tel qu'enregistré) : something new went wrong"
    )


# --- 2. the delivery details on the office's convention page ------------------------------


def test_every_delivery_detail_code_has_its_wording_and_its_sentence_in_every_catalogue() -> None:
    assert set(WORDING) == set(DeliveryDetailCode) == set(SENTENCES)
    for language in ("fr", "ar"):
        catalogue = load(language)
        for code, sentence in SENTENCES.items():
            entry = catalogue.get(sentence)
            assert entry is not None and entry.string, (language, code)


@pytest.mark.parametrize(
    "detail",
    [
        DeliveryDetail(code=DeliveryDetailCode.NO_EMAIL_ADDRESS, params={"party": "amica"}),
        DeliveryDetail(code=DeliveryDetailCode.NO_WEBHOOK, params={"party": "amica"}),
        DeliveryDetail(code=DeliveryDetailCode.NO_SMTP_SERVER),
        DeliveryDetail(code=DeliveryDetailCode.NO_SMTP_ON_WORKER),
        DeliveryDetail(code=DeliveryDetailCode.TIMEOUT),
        DeliveryDetail(code=DeliveryDetailCode.HTTP_GONE),
        DeliveryDetail(code=DeliveryDetailCode.HTTP_STATUS, params={"status": "4xx"}),
        DeliveryDetail(
            code=DeliveryDetailCode.MAIL_PARTLY_REFUSED,
            params={"refusals": "a@b.ml: 550 no such user"},
        ),
    ],
)
def test_what_an_activity_writes_reads_back_as_its_code(detail: DeliveryDetail) -> None:
    channel = "webhook" if detail.code.value in _WEBHOOK_CODES else "email"
    assert read_back(written(detail), channel, "failed") == detail


_WEBHOOK_CODES = {"no_webhook", "timeout", "http_410_gone", "http_status"}


def test_the_convention_pages_delivery_details_are_said_in_the_readers_language() -> None:
    # As the activities wrote them before the codes: the same wording.
    no_address = {
        "channel": "email",
        "status": "no_channel",
        "party": "amica",
        "last_detail": "no contact of 'amica' has an e-mail address",
    }
    names = PartyNames.of({"amica": "الوكالة المغربية للتعاون"})
    arabic = delivery_detail(no_address["last_detail"], "email", "no_channel", "ar", names).text
    assert arabic == (
        f"لا يملك أي جهة اتصال لدى {FIRST_STRONG_ISOLATE}الوكالة المغربية للتعاون"
        f"{POP_DIRECTIONAL_ISOLATE} عنوان بريد إلكتروني"
    )
    assert delivery_detail(no_address["last_detail"], "email", "no_channel", "fr").text == (
        "aucun contact de amica n'a d'adresse électronique"
    )
    timeout = {"channel": "webhook", "status": "retrying", "last_detail": "timeout"}
    said = _detail(timeout, "ar")
    assert said is not None and said.text == "لم يُجب خادم الطرف في الوقت المحدد"
    # What a mail server answered is quoted as it answered, inside the reader's sentence.
    delivered = {"channel": "email", "status": "delivered", "last_detail": "250 2.0.0 Ok: queued"}
    said = _detail(delivered, "ar")
    assert said is not None and not said.as_recorded
    assert not LATIN_WORD.search(outside_the_data(said.text)), said.text
    refused = {"channel": "email", "status": "failed", "last_detail": "550 5.1.1 unknown user"}
    said = _detail(refused, "fr")
    assert said is not None and said.text == (
        "le serveur de messagerie a répondu : 550 5.1.1 unknown user"
    )
    # The page's list of missing channels reads the code, not a word inside the text.
    no_server = {**no_address, "last_detail": "no SMTP server configured (PACTE_SMTP_HOST)"}
    assert _missing_channels([no_server]) == [
        ("amica", ["no mail server configured here: e-mails are not sent"])
    ]
    assert _missing_channels([no_address]) == [("amica", ["no e-mail address"])]


def test_a_delivery_detail_pacte_does_not_write_is_shown_as_recorded_and_marked() -> None:
    said = delivery_detail("activity StartToClose timeout", "webhook", "failed", "fr")
    assert said.as_recorded and said.text == "activity StartToClose timeout"
    assert not delivery_detail(
        "activity StartToClose timeout", "webhook", "failed", "en"
    ).as_recorded
    assert _detail({"channel": "email", "status": "failed", "last_detail": None}, "fr") is None


def test_an_outcome_without_facts_is_the_payload_it_always_was() -> None:
    outcome = DeliveryOutcome(
        notification_id="n1", channel=Channel.EMAIL, status=DeliveryStatus.DELIVERED, attempt=1
    )
    assert "detail_facts" not in outcome.model_dump(mode="json")
    typed = outcome.model_copy(update={"detail_facts": ALREADY_DELIVERED})
    assert DeliveryOutcome.model_validate(typed.model_dump(mode="json")) == typed


# --- 3. the desks' error pages' details ---------------------------------------------------


def _error_page(error: PacteError, language: str) -> str:
    """The partner desk's error page for `error`, as a reader of `language` gets it."""
    app = FastAPI()

    @app.get("/raise")
    async def raising() -> None:
        raise error

    @app.exception_handler(PacteError)
    async def page(request: Request, raised: PacteError) -> Response:
        return error_page(request, raised)

    response = TestClient(app).get(f"/raise?lang={language}")
    assert response.status_code == status_and_title(error)[0]
    return str(response.text)


def _detail_line(page: str) -> str:
    found = re.search(r'<p class="detail">(.*?)</p>', page, re.DOTALL)
    assert found is not None, page
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_an_expired_links_detail_is_said_in_the_readers_language() -> None:
    error = LinkUnusable(
        coded_detail(DetailCode.LINK_EXPIRED, "this link expired on 2026-11-30", day="2026-11-30")
    )
    assert _detail_line(_error_page(error, "fr")) == "ce lien a expiré le 30 novembre 2026"
    arabic = _detail_line(_error_page(error, "ar"))
    assert arabic.startswith("انتهت صلاحية هذا الرابط في") and "30" in arabic
    assert not LATIN_WORD.search(arabic), arabic
    assert _detail_line(_error_page(error, "en")) == "this link expired on 2026-11-30"


def test_a_detail_with_nothing_to_fill_is_its_own_catalogue_message() -> None:
    page = _error_page(NotFound("this link is not known"), "ar")
    assert _detail_line(page) == "هذا الرابط غير معروف"
    assert "as-recorded" not in page


def test_an_unknown_detail_is_shown_as_recorded_and_marked_so() -> None:
    page = _error_page(NotFound("a detail nobody translated"), "fr")
    assert _detail_line(page) == "a detail nobody translated (tel qu'enregistré)"
    assert 'class="as-recorded"' in page
    english = _error_page(NotFound("a detail nobody translated"), "en")
    assert _detail_line(english) == "a detail nobody translated"


def test_a_detail_keeps_its_english_for_the_api_and_says_its_values_as_written() -> None:
    reason = coded_detail(
        DetailCode.NO_TASK_FOR_YOU,
        "no task 'drafting.review.v1.amica' of convention 'bamako-2026' for you",
        task="drafting.review.v1.amica",
        convention="bamako-2026",
    )
    assert str(reason).startswith("no task 'drafting.review.v1.amica'")  # the API's detail
    said = error_detail(reason, "ar")
    assert said is not None
    assert f"{FIRST_STRONG_ISOLATE}bamako-2026{POP_DIRECTIONAL_ISOLATE}" in said.text
    assert not LATIN_WORD.search(outside_the_data(said.text)), said.text
    assert "<bdi>drafting.review.v1.amica</bdi>" in str(said.html)
    assert error_detail("", "fr") is None


def test_every_detail_code_has_its_sentence_in_every_catalogue() -> None:
    assert set(DETAILS) == set(DetailCode)
    for language in ("fr", "ar"):
        catalogue = load(language)
        for code, sentence in DETAILS.items():
            entry = catalogue.get(sentence)
            assert entry is not None and entry.string, (language, code)


def test_the_officers_cli_says_a_coded_detail_in_the_shells_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("PACTE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    error = NotFound(
        coded_detail(
            DetailCode.CONVENTION_UNKNOWN,
            "convention 'bamako-2026' is not known",
            convention="bamako-2026",
        )
    )
    assert STARTER_ERRORS.report(error) == 4
    assert capsys.readouterr().err == "not found: convention 'bamako-2026' is not known\n"
    monkeypatch.setenv("PACTE_LANG", "fr")
    STARTER_ERRORS.report(error)
    assert capsys.readouterr().err == "not found: la convention bamako-2026 n'est pas connue\n"


# --- 5. the office's "answer for the party" form ------------------------------------------


def test_the_answer_form_offers_every_decision_an_answer_may_carry_with_its_label() -> None:
    decisions: set[str] = set()
    for model in vars(tasks_schema).values():
        fields = getattr(model, "model_fields", {})
        if "decision" in fields and isinstance(model, type):
            decisions |= set(get_args(fields["decision"].annotation))
    assert decisions and {option.value for option in DECISIONS} == decisions
    for language in ("fr", "ar"):
        for option in DECISIONS:
            assert gettext(language, option.label) != option.label, (language, option.value)
    assert gettext("ar", "no decision") == "بلا قرار"


def test_a_link_withdrawn_as_its_task_was_reassigned_says_to_whom() -> None:
    error = LinkUnusable(_withdrawn("reassigned to awa.diop@example.org"))
    assert str(error.detail) == "this link was withdrawn (reassigned to awa.diop@example.org)"
    assert _detail_line(_error_page(error, "fr")) == (
        "ce lien a été retiré : la tâche a été confiée à awa.diop@example.org"
    )
    other = LinkUnusable(_withdrawn("revoked by the office"))
    assert _detail_line(_error_page(other, "fr")) == "ce lien a été retiré (revoked by the office)"


def test_reason_facts_that_do_not_parse_fall_back_to_the_english_reason() -> None:
    reason = Reason(
        "no open task 'x': cancelled (convention terminated: the programme ended)",
        "task_cancelled",
        {
            "task": "x",
            "reason": "convention terminated: the programme ended",
            "reason_facts": {"code": "a_code_from_the_future"},
        },
        "task_id",
    )
    assert reason_text(reason, "fr") == (
        "la tâche x a été annulée : convention close : the programme ended"
    )


def test_a_sealing_refusal_says_its_sentence_and_quotes_the_tools_words() -> None:
    reason = coded_detail(
        DetailCode.NOT_CONVERTED,
        "the signed text cannot be converted to PDF: LibreOffice is not installed",
        error="LibreOffice is not installed",
    )
    said = error_detail(reason, "fr")
    assert said is not None and not said.as_recorded
    assert said.text == (
        "le texte signé ne peut pas être converti en PDF : LibreOffice is not installed"
    )
    arabic = error_detail(reason, "ar")
    assert arabic is not None and not LATIN_WORD.search(
        outside_the_data(arabic.text).replace("PDF", "")
    )


# --- 6. the office's directory and convention pages' details ----------------------------


class _NoSession:
    """An office desk whose reader is not signed in (office_error asks whom it serves)."""

    class signin:  # stands for the desk's attribute
        @staticmethod
        async def session(_cookie: str | None) -> None:
            raise Unauthenticated("not signed in")


def _office_page(error: PacteError, language: str) -> str:
    """The office desk's error page for `error`, as a reader of `language` gets it."""
    app = FastAPI()
    app.state.office = _NoSession()
    app.state.office_csrf = None

    @app.get("/office/raise")
    async def raising() -> None:
        raise error

    @app.exception_handler(PacteError)
    async def page(request: Request, raised: PacteError) -> Response:
        return await office_error(request, raised)

    response = TestClient(app).get(f"/office/raise?lang={language}")
    assert response.status_code == status_and_title(error)[0]
    return str(response.text)


def test_the_directory_editors_refusals_keep_their_english_for_the_api_and_the_cli() -> None:
    assert str(_no_active_person("p-12")) == "no active person 'p-12'"
    assert str(_not_open("drafting.review.v1")) == "task_id: task 'drafting.review.v1' is not open"
    assert error_detail(_no_active_person("p-12"), "en") == word("no active person 'p-12'")


@pytest.mark.parametrize(
    ("error", "french", "arabic"),
    [
        (
            NotFound(_no_active_person("p-12")),
            "aucune personne active p-12",
            "لا يوجد شخص نشط",
        ),
        (
            Conflict(
                coded_detail(
                    DetailCode.ORGANISATION_EXISTS,
                    "organisation 'amica' exists already",
                    organisation="amica",
                )
            ),
            "l'organisation amica existe déjà",
            "المنظمة",
        ),
        (
            NotFound(
                coded_detail(
                    DetailCode.NO_OPEN_TASK,
                    "no open task 'drafting.review.v1' in convention 'bamako-2026'",
                    task="drafting.review.v1",
                    convention="bamako-2026",
                )
            ),
            "aucune tâche ouverte drafting.review.v1 dans la convention bamako-2026",
            "لا توجد مهمة مفتوحة",
        ),
        (
            Refused(_not_open("drafting.review.v1")),
            "la tâche drafting.review.v1 n'est pas ouverte",
            "ليست مفتوحة",
        ),
    ],
)
def test_the_office_desks_error_page_says_a_directory_or_task_refusal_in_its_language(
    error: PacteError, french: str, arabic: str
) -> None:
    page = _office_page(error, "fr")
    assert _detail_line(page) == french
    assert "as-recorded" not in page
    arabic_page = _office_page(error, "ar")
    said = _detail_line(arabic_page)
    # The ids stay as written, each in its <bdi>; the rest of the line is Arabic.
    found = re.search(r'<p class="detail">(.*?)</p>', arabic_page, re.DOTALL)
    assert found is not None and "<bdi>" in found.group(1)
    outside = re.sub(r"<[^>]+>", "", re.sub(r"<bdi>.*?</bdi>", "", found.group(1)))
    assert arabic in said and not LATIN_WORD.search(outside), said
    assert _detail_line(_office_page(error, "en")) == str(error.detail)


def test_a_refusal_placed_beside_the_task_field_keeps_its_code() -> None:
    field, reason = placed_refusal(_not_open("drafting.review.v1"))
    assert field == "task_id" and str(reason) == "task 'drafting.review.v1' is not open"
    said = error_detail(reason, "ar")
    assert said is not None and said.text.startswith("المهمة")


def test_a_directory_forms_field_reason_is_said_in_the_readers_language() -> None:
    with pytest.raises(InvalidInput) as raised:
        _check_dates(date(2026, 12, 1), date(2026, 11, 30))
    [problem] = raised.value.errors
    assert problem.field == "valid_until" and problem.reason == "2026-11-30 is before 2026-12-01"
    said = error_detail(problem.reason, "fr")
    assert said is not None and said.text == (
        "la fin (30 novembre 2026) précède le début (1 décembre 2026)"
    )
    arabic = error_detail(problem.reason, "ar")
    assert arabic is not None
    assert not LATIN_WORD.search(arabic.text), arabic.text
    taken = coded_detail(
        DetailCode.ADDRESS_TAKEN,
        "awa@amica.ml is the address of Awa Diop already",
        email="awa@amica.ml",
        name="Awa Diop",
    )
    said = error_detail(taken, "ar")
    assert said is not None
    assert not LATIN_WORD.search(outside_the_data(said.text)), said.text


def test_the_office_desks_fixed_refusals_are_catalogue_messages() -> None:
    page = _office_page(Forbidden(N_("the second factor is already set up")), "fr")
    assert _detail_line(page) == "le second facteur est déjà configuré"
    assert "as-recorded" not in page
    arabic = _detail_line(_office_page(Forbidden(N_("the second factor is already set up")), "ar"))
    assert arabic == "سبق إعداد العامل الثاني"


def _organisation_page(refusal: str, language: str) -> str:
    """The office's page of an organisation after a directory change was refused (what
    web.office._directory_change gives), with an organisation without people."""
    org = SimpleNamespace(
        id="amica",
        name="AMICA",
        names=[],
        kind="ngo",
        country="ML",
        archived=False,
        parent_id=None,
        webhook_url=None,
        people=[],
        unconfirmed=[],
    )
    app = FastAPI()

    @app.get("/office/directory/amica")
    async def organisation(request: Request) -> Response:
        return render(
            request,
            "office/organisation.html",
            None,
            status_code=409,
            csrf="token",
            org=org,
            manage=False,
            keep=False,
            keys=[],
            kinds=[],
            capacities=[],
            refusal=refusal,
            failed="remove",
            errors={},
            values={},
        )

    response = TestClient(app).get(f"/office/directory/amica?lang={language}")
    assert response.status_code == 409
    found = re.search(r'<p class="refusal" role="alert">(.*?)</p>', response.text, re.DOTALL)
    assert found is not None, response.text
    return found.group(1)


def test_the_organisation_pages_refusal_is_said_in_the_readers_language() -> None:
    # It was the English text, unmarked, whatever the reader's language.
    refusal = _no_active_person("p-12")
    assert _organisation_page(refusal, "fr") == "aucune personne active <bdi>p-12</bdi>"
    arabic = _organisation_page(refusal, "ar")
    assert "<bdi>p-12</bdi>" in arabic and arabic.startswith("لا يوجد شخص نشط")
    assert _organisation_page(refusal, "en") == "no active person &#39;p-12&#39;"
    unknown = _organisation_page("a detail nobody translated", "fr")
    assert 'class="as-recorded"' in unknown
