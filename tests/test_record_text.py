"""The record's facts said in the reader's language (rendering/): task titles, milestones,
money and dates per locale, names isolated, refusals by their code, and the stored English
text shown, flagged, only when the facts are not there."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from activities.message_templates import render
from application.conventions import build_answer, officer_on_behalf
from application.partner import answers as partner_answers
from auditing.histories import FileHistories
from auditing.timeline import build_timeline, render_json, render_text
from infra.settings import PROJECT_ROOT
from rendering.catalogues import language_from_environment
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, money
from rendering.record import milestone_text, task_instructions, task_title
from rendering.validation import reason_text
from schemas.convention import Contact, Convention
from schemas.convention_file import load_convention
from schemas.errors import WRONG_CODE, Reason, field_errors
from schemas.milestones import Milestone, MilestoneKind
from schemas.notifications import Notification, NotificationEvent
from schemas.tasks import AnswerTask, Task, TaskKind
from schemas.values import Language
from tests.test_milestone_details import recorded_groups, recorded_milestones
from web.i18n import code_mail

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HISTORIES = PROJECT_ROOT / "tests" / "histories" / "current"
EXAMPLES = PROJECT_ROOT / "examples"
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ISOLATED = re.compile(
    f"{FIRST_STRONG_ISOLATE}[^{POP_DIRECTIONAL_ISOLATE}]*{POP_DIRECTIONAL_ISOLATE}"
)


def task(kind: TaskKind, title: str, task_id: str = "signature.sign.sg") -> Task:
    return Task(
        id=task_id,
        convention_id="rabat-2026",
        stage="signature",
        kind=kind,
        assignee="mre",
        title=title,
        assigned_at=NOW,
        due_at=NOW + timedelta(days=30),
    )


def milestone(
    kind: MilestoneKind, summary: str, details: dict[str, Any], **fields: Any
) -> Milestone:
    return Milestone(
        convention_id="rabat-2026",
        seq=fields.pop("seq", 1),
        kind=kind,
        occurred_at=NOW,
        summary=summary,
        details=details,
        **fields,
    )


def outside_the_data(text: str) -> str:
    """What a plain Arabic text says around its isolated names, titles and amounts."""
    return ISOLATED.sub("", text)


def test_the_arabic_signature_task_is_headed_in_arabic_with_the_name_isolated() -> None:
    sign = task(TaskKind.SIGN, "Sign the convention as فاطمة انجاي, الأمينة العامة (2)")
    said = task_title(sign, "ar")
    assert said.text == (
        "توقيع الاتفاقية بصفة \u2068فاطمة انجاي\u2069، \u2068الأمينة العامة (2)\u2069"
    )
    assert str(said.html) == (
        "توقيع الاتفاقية بصفة <bdi>فاطمة انجاي</bdi>، <bdi>الأمينة العامة (2)</bdi>"
    )
    assert not said.as_recorded
    assert task_title(sign, "fr").text == (
        "Signer la convention en tant que فاطمة انجاي, الأمينة العامة (2)"
    )
    # In English the recorded wording and the rendering agree.
    assert task_title(sign, "en").text == sign.title
    assert not LATIN_WORD.search(task_instructions(sign, "ar").text)


def test_a_title_whose_wording_is_unknown_is_shown_as_recorded_and_flagged() -> None:
    odd = task(TaskKind.SIGN, "Signer (texte d'un ancien workflow)")
    assert task_title(odd, "ar").as_recorded
    assert task_title(odd, "ar").text == "\u2068Signer (texte d'un ancien workflow)\u2069"
    # English readers read the stored English as it is: nothing to flag.
    assert not task_title(odd, "en").as_recorded
    # A language that is none of the three reads English.
    assert task_title(task(TaskKind.REVIEW_DRAFT, "Review version 3 of the text"), "de").text == (
        "Review version 3 of the text"
    )


def test_money_in_each_locale_iso_codes_by_babel_and_others_as_written() -> None:
    assert money("40000000", "IsDB-ID", "fr").text == "40\u202f000\u202f000\u00a0IsDB-ID"
    assert money("40000000", "IsDB-ID", "en").text == "40,000,000\u00a0IsDB-ID"
    # Arabic reads as in Morocco: Western digits, the amount isolated in its sentence.
    assert money("1250.5", "MAD", "ar").text.startswith(FIRST_STRONG_ISOLATE)
    assert "1.250,50" in money("1250.5", "MAD", "ar").text
    assert "F\u202fCFA" in money("15000000", "XOF", "fr").text
    decide = task(TaskKind.DECIDE_FUNDING, "Decide on the funding request of 40000000 IsDB-ID")
    assert task_title(decide, "fr").text == (
        "Statuer sur la demande de financement de 40\u202f000\u202f000\u00a0IsDB-ID"
    )


def test_a_milestone_is_rendered_from_its_details_and_its_summary_is_not_shown() -> None:
    granted = milestone(
        MilestoneKind.FUNDING_DECIDED,
        "bid approved 36000000 IsDB-ID",
        {
            "decision": "approve",
            "granted": {"amount": "36000000", "currency": "IsDB-ID"},
            "requested": {"amount": "40000000", "currency": "IsDB-ID"},
        },
        party="bid",
    )
    assert milestone_text(granted, "fr").text == "bid a accordé 36\u202f000\u202f000\u00a0IsDB-ID"
    held = milestone(
        MilestoneKind.MISSION_HELD,
        "Mission held in Bamako (ML), 2023-10-01 to 2023-10-07: 1 agenda items held, 2 cancelled",
        {
            "destination": {"city": "Bamako", "country": "ML"},
            "starts_on": "2023-10-01",
            "ends_on": "2023-10-07",
            "postponed_by_days": 0,
            "delegation": [],
            "held": [{"id": "a", "title": "Visite"}],
            "cancelled": [{"id": "b", "title": "B"}, {"id": "c", "title": "C"}],
        },
    )
    french = milestone_text(held, "fr").text
    assert french == (
        "Mission tenue à Bamako (ML), du 1 octobre 2023 au 7 octobre 2023 : "
        "1 point de l'ordre du jour tenu, 2 annulés"
    )
    arabic = milestone_text(held, "ar").text
    assert "بند واحد أُنجز" in arabic and "بندان أُلغيا" in arabic  # Arabic's own forms


def test_details_that_do_not_read_fall_back_to_the_stored_summary_flagged() -> None:
    left_out = milestone(
        MilestoneKind.SIGNED,
        "Signed by Rémi Cabon, Directeur général, for psa",
        {"left_out": "9000 bytes, kept in PostgreSQL"},
    )
    said = milestone_text(left_out, "ar")
    assert said.as_recorded and "Rémi Cabon" in said.text
    assert not milestone_text(left_out, "en").as_recorded


async def test_sixty_recorded_milestones_in_arabic_leave_no_english_outside_the_data() -> None:
    seen: dict[tuple[str, str], Milestone] = {}
    for group in recorded_groups():
        for recorded in await recorded_milestones(group):
            read = Milestone.model_validate(recorded)
            seen.setdefault((read.kind.value, read.summary[:24]), read)
    milestones = list(seen.values())[:60]
    assert len(milestones) == 60
    english = []
    for each in milestones:
        said = milestone_text(each, "ar")
        assert not said.as_recorded, each.summary
        if LATIN_WORD.search(outside_the_data(said.text)):
            english.append((each.kind.value, said.text))
    assert english == []


def test_pydantic_messages_are_said_by_type_with_the_fields_label() -> None:
    class Restitution(BaseModel):
        held_on: date
        trainees: int

    with pytest.raises(ValidationError) as caught:
        Restitution.model_validate({"held_on": "2026-02-31", "trainees": "many"})
    errors = field_errors(caught.value)
    assert [e.field for e in errors] == ["held_on", "trainees"]
    assert "day value is outside expected range" in errors[0].reason  # the English stays
    arabic = [reason_text(e.reason, "ar") for e in errors]
    assert arabic == [
        "تاريخ الانعقاد: يُنتظر تاريخ صحيح (السنة-الشهر-اليوم)",
        "عدد المتدربين: يُنتظر عدد صحيح",
    ]
    assert reason_text(errors[0].reason, "fr") == (
        "la date de tenue : une date valide est attendue (année-mois-jour)"
    )


@pytest.mark.parametrize(
    ("left", "language", "said"),
    [
        (4, "fr", "code erroné (4 essais restants)"),
        (1, "fr", "code erroné (1 essai restant)"),
        (4, "ar", "رمز خاطئ (بقيت 4 محاولات)"),
        (2, "ar", "رمز خاطئ (بقيت محاولتان)"),
        (1, "en", "wrong code (1 try left)"),
    ],
)
def test_the_wrong_code_counts_its_tries_in_each_languages_plural(
    left: int, language: str, said: str
) -> None:
    reason = Reason(f"wrong code ({left} tries left)", WRONG_CODE, {"left": left}, "code")
    assert reason_text(reason, language) == said


def test_the_code_mail_speaks_the_contacts_language_and_says_a_fallback() -> None:
    mail = code_mail("ar", "123456", "توقيع الاتفاقية")
    assert mail.subject == "رمز التأكيد الخاص بكم في ميثاق"
    assert "\u2068123456\u2069" in mail.text
    assert not LATIN_WORD.search(mail.text)
    german = code_mail("de", "123456", "Signer la convention")
    assert german.subject == "Votre code de confirmation Pacte"
    assert "ce message est en français" in german.text


def test_the_task_mail_subject_and_body_carry_the_title_in_the_readers_language() -> None:
    review = task(TaskKind.REVIEW_DRAFT, "Review version 1 of the text", "drafting.review.v1.mre")
    for language, subject in (
        (Language.FRENCH, "Nouvelle tâche : Examiner la version 1 du texte"),
        (Language.ARABIC, "مهمة جديدة: مراجعة النسخة 1 من النص"),
    ):
        sent = Notification(
            id=f"rabat-2026/{review.id}/task.assigned",
            convention_id="rabat-2026",
            event=NotificationEvent.TASK_ASSIGNED,
            party="mre",
            recipients=[Contact(name="فاطمة انجاي", language=language)],
            language=language,
            subject="[rabat-2026] Review version 1 of the text",
            task=review,
            created_at=NOW,
            convention_title="Convention MRE – OFPPT",
        )
        mail = render(sent)
        assert mail.subject == f"[rabat-2026] {subject}"
        assert "Review version" not in mail.text and "Review version" not in mail.html
    assert "\u2068Convention MRE – OFPPT\u2069" in mail.text
    assert "<bdi>Convention MRE – OFPPT</bdi>" in mail.html


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "LC_ALL": "ar_MA.UTF-8"}, "ar"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"PACTE_LANG": "fr", "LANG": "ar_MA.UTF-8"}, "fr"),
    ],
)
def test_the_clis_language_comes_from_the_environment_english_when_unset(
    environ: dict[str, str], language: str
) -> None:
    assert language_from_environment(environ) == language


async def test_the_auditors_timeline_in_arabic_says_every_line_and_its_frame() -> None:
    chain = (await FileHistories.load([HISTORIES / "signature-refused"])).chains[0]
    timeline = await build_timeline(chain)
    english, arabic = render_text(timeline).splitlines(), render_text(timeline, "ar").splitlines()
    assert len(english) == len(arabic) == 3 + len(timeline.entries)
    for english_line, arabic_line in zip(english[3:], arabic[3:], strict=True):
        # The time is the record's, in both …
        assert english_line[:19] == arabic_line[:19]
    # … and what the refusal says is Arabic, its names and reason isolated.
    assert any("رفض \u2068Mohamed Lacham\u2069" in line for line in arabic)
    # The machine outputs carry kinds and details, never prose in a reader's language.
    assert '"milestone_kind": "signature_refused"' in render_json(timeline)
    assert '"summary"' not in render_json(timeline)


def test_a_comment_from_a_form_the_api_or_the_cli_is_stored_the_same() -> None:
    escalation = task(TaskKind.RESOLVE_ESCALATION, "Late: x", "escalation.x")
    typed = "Relancé par téléphone.\r\nRéponse promise — فاطمة انجاي\rNFD: e\u0301"
    officer = officer_on_behalf("Nadia Benali", "mre")
    from_form = partner_answers.build(
        escalation, officer, {"answer": {"comments": typed}}, source="form"
    )
    from_api = partner_answers.build(
        escalation, officer, {"answer": {"comments": typed.replace("\r\n", "\n")}}, source="api"
    )
    from_cli = build_answer(escalation, "mre", {"comments": typed.replace("\r\n", "\n")})
    stored = "Relancé par téléphone.\nRéponse promise — فاطمة انجاي\nNFD: e\u0301"
    for request in (from_form, from_api, from_cli):
        assert request.answer.model_dump(mode="json")["comments"] == stored
    # Built in code, or decoded from the workflow's payload: the same.
    assert AnswerTask.model_validate_json(from_form.model_dump_json()) == from_form


def test_a_title_in_several_languages_each_reader_sees_theirs_else_the_original() -> None:
    data = load_convention(EXAMPLES / "bamako-cooperation.yaml").model_dump(mode="json")
    plain = Convention.model_validate(data)
    assert plain.titles == {} and plain.title_in("ar") == plain.title  # a string still works
    only_arabic = Convention.model_validate(
        {**data, "title": {"ar": "التعاون بين المكتب ووزارة التكوين في مالي"}}
    )
    assert only_arabic.title == "التعاون بين المكتب ووزارة التكوين في مالي"
    assert only_arabic.title_in("fr") == only_arabic.title  # the original, for a French reader
    both = Convention.model_validate(
        {**data, "title": {"fr": "Coopération OFPPT – MENEFP", "ar": "تعاون المكتب ووزارة مالي"}}
    )
    assert both.title == "Coopération OFPPT – MENEFP"  # the first given is the original
    assert both.title_in("ar") == "تعاون المكتب ووزارة مالي"
    assert both.title_in("en") == "Coopération OFPPT – MENEFP"
    # Through the workflow's payload and back, unchanged.
    assert Convention.model_validate_json(both.model_dump_json()) == both
    with pytest.raises(ValidationError, match="de is not a language Pacte reads"):
        Convention.model_validate({**data, "title": {"de": "Zusammenarbeit"}})


def test_what_people_wrote_is_escaped_in_html_and_never_read_as_a_placeholder() -> None:
    sign = task(TaskKind.SIGN, "Sign the convention as <script>x()</script>, {capacity} & co")
    said = task_title(sign, "ar")
    assert "<script>" not in str(said.html)
    assert "<bdi>&lt;script&gt;x()&lt;/script&gt;</bdi>" in str(said.html)
    assert "<bdi>{capacity} &amp; co</bdi>" in str(said.html)  # braces kept, not formatted
    assert "\u2068{capacity} & co\u2069" in said.text
