"""A party's name and a document's title in several languages (`name: {fr: …, ar: …}`), as a
convention's title already is: the first given is the original, each reader sees theirs
where the directory does not name the party, else the original (issue 24, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from activities.mail import FileWords, build_messages
from activities.message_templates import render
from application.directory.names import Names, file_name
from auditing.iati import ConventionRecord, Reporter, activities_document, validation_errors
from auditing.timeline import party_names
from infra.settings import PROJECT_ROOT
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, document_title
from rendering.validation import reason_text
from schemas.audit import Timeline
from schemas.convention import Contact, Convention, Party
from schemas.convention_file import load_convention
from schemas.errors import field_errors
from schemas.notifications import Notification, NotificationEvent
from schemas.values import DocumentRef, Language
from storage.directory import Organisation
from web import editor_form

EXAMPLES = PROJECT_ROOT / "examples"
NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MENEFP_FR = "Ministère de l'Emploi et de la Formation professionnelle"
MENEFP_AR = "وزارة التشغيل والتكوين المهني"
TITLE_AR = "التعاون بين المكتب ووزارة التكوين في مالي"


def bamako(**party_changes: Any) -> dict[str, Any]:
    """The Bamako seed as a file's mapping, the menefp party changed by `party_changes`."""
    data = load_convention(EXAMPLES / "bamako-cooperation.yaml").model_dump(mode="json")
    data["parties"] = [
        {**party, **party_changes} if party["id"] == "menefp" else party
        for party in data["parties"]
    ]
    return data


def test_a_partys_name_in_several_languages_the_first_is_the_original() -> None:
    convention = Convention.model_validate(bamako(name={"fr": MENEFP_FR, "ar": MENEFP_AR}))
    menefp = convention.party("menefp")

    assert menefp.name == MENEFP_FR
    assert menefp.names == {Language.FRENCH: MENEFP_FR, Language.ARABIC: MENEFP_AR}
    assert menefp.name_in("ar") == MENEFP_AR
    assert menefp.name_in("en") == MENEFP_FR  # not given in English: the original
    assert convention.names_in("ar")["menefp"] == MENEFP_AR
    # Through the workflow's payload and back, unchanged.
    assert Convention.model_validate_json(convention.model_dump_json()) == convention


def test_a_plain_name_keeps_working_and_dumps_as_it_always_did() -> None:
    """A recorded workflow input holds no `names`: the dump of a plain file is the same."""
    convention = Convention.model_validate(bamako())
    party = convention.party("menefp")

    assert party.names == {} and party.name_in("ar") == party.name
    assert "names" not in party.model_dump(mode="json")
    assert "title" not in DocumentRef(uri="https://example.org/x.pdf").model_dump(mode="json")


@pytest.mark.parametrize(
    ("given", "code", "french", "arabic"),
    [
        (
            {"xx": "Ministère"},
            "language_unknown",
            "le nom : xx n’est pas une langue que Pacte lit (fr, ar ou en)",
            "xx ليست لغة يقرؤها ميثاق",
        ),
        (
            {},
            "languages_empty",
            "le nom : à donner dans au moins une langue (fr, ar ou en)",
            "يجب تقديمه بلغة واحدة على الأقل",
        ),
    ],
)
def test_a_bad_mapping_of_languages_is_refused_naming_the_field_in_the_readers_language(
    given: dict[str, str], code: str, french: str, arabic: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Convention.model_validate(bamako(name=given))

    errors = field_errors(refused.value)
    assert [(error.field, error.code) for error in errors] == [("parties.1.name", code)]
    assert reason_text(errors[0].reason, "fr") == french
    assert arabic in reason_text(errors[0].reason, "ar")
    assert "Pacte" not in reason_text(errors[0].reason, "ar")


@pytest.mark.parametrize("field", ["title"])
def test_a_convention_title_with_a_bad_mapping_is_refused_by_the_same_reasons(field: str) -> None:
    data = bamako()
    for given, code in (({"xx": "Titre"}, "language_unknown"), ({}, "languages_empty")):
        with pytest.raises(ValidationError) as refused:
            Convention.model_validate({**data, field: given})
        assert [(e.field, e.code) for e in field_errors(refused.value)] == [(field, code)]
        with pytest.raises(ValidationError) as refused_document:
            DocumentRef.model_validate({"uri": "https://example.org/x.pdf", "title": given})
        assert [e.code for e in field_errors(refused_document.value)] == [code]


def test_a_documents_title_in_several_languages_each_reader_sees_theirs() -> None:
    document = DocumentRef.model_validate(
        {"uri": "https://example.org/v1.pdf", "title": {"ar": "مسودة الاتفاقية", "fr": "Projet"}}
    )
    recorded = document.model_dump(mode="json")  # as a draft_version milestone keeps it

    assert document.title == "مسودة الاتفاقية" and document.title_in("fr") == "Projet"
    assert document.title_in("en") == "مسودة الاتفاقية"  # the original
    assert document_title(recorded, "fr") == "Projet"
    assert document_title(recorded, "en") == "مسودة الاتفاقية"
    assert document_title({"uri": "https://example.org/v1.pdf"}, "fr") is None
    assert DocumentRef.model_validate(recorded) == document


def test_the_directory_names_a_party_before_the_file_in_any_language() -> None:
    held = Organisation(
        id="menefp",
        name_fr="Ministère (directory)",
        name_ar="الوزارة (الدليل)",
        name_en=None,
        kind="ministry",
        country="ML",
        parent_id=None,
        archived_at=None,
        created_at=NOW,
        created_by="test",
    )
    stored = {"id": "menefp", "name": MENEFP_FR, "names": {"fr": MENEFP_FR, "ar": MENEFP_AR}}
    written = {"menefp": file_name(stored, "ar")}

    assert written == {"menefp": MENEFP_AR}
    assert Names(written=written).organisation("menefp", "ar") == MENEFP_AR
    directory_first = Names({"menefp": held}, written=written)
    assert directory_first.organisation("menefp", "ar") == "الوزارة (الدليل)"
    assert file_name({"id": "x", "name": "Plain"}, "ar") == "Plain"


def test_the_audit_timeline_names_a_party_in_the_readers_language_from_the_file() -> None:
    read = Timeline(
        convention_id="bamako-cooperation",
        workflow_id="convention-bamako-cooperation",
        title=None,
        party_names={"menefp": MENEFP_FR},
        party_names_in={"menefp": {"fr": MENEFP_FR, "ar": MENEFP_AR}},
        source="file",
        stages=[],
        spans=[],
        entries=[],
    )

    assert party_names(read, "ar")("menefp") == MENEFP_AR
    assert party_names(read, "en")("menefp") == MENEFP_FR
    assert party_names(read, "ar", {"menefp": "الدليل"})("menefp") == "الدليل"


def _notification(contacts: list[Contact]) -> Notification:
    return Notification(
        id="bamako-cooperation/x/stage.changed",
        convention_id="bamako-cooperation",
        event=NotificationEvent.STAGE_CHANGED,
        party="menefp",
        recipients=contacts,
        language=Language.FRENCH,
        subject="[bamako-cooperation] x",
        stage="mission",
        created_at=NOW,
        # What the workflow writes: the original title (here, the Arabic one).
        convention_title=TITLE_AR,
    )


def test_each_mail_says_the_title_and_the_party_in_its_readers_language() -> None:
    words = FileWords.of(
        {"ar": TITLE_AR, "fr": "Coopération OFPPT – MENEFP"},
        [{"id": "menefp", "name": MENEFP_FR, "names": {"fr": MENEFP_FR, "ar": MENEFP_AR}}],
    )
    contacts = [
        Contact(name="Awa", email="awa@example.org", language=Language.FRENCH),
        Contact(name="فاطمة", email="fatima@example.org", language=Language.ARABIC),
    ]

    french, arabic = build_messages(_notification(contacts), "pacte@example.org", words=words)

    french_text = french.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    arabic_text = arabic.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Coopération OFPPT – MENEFP" in french_text and TITLE_AR not in french_text
    assert MENEFP_FR in french_text
    assert f"{FIRST_STRONG_ISOLATE}{TITLE_AR}{POP_DIRECTIONAL_ISOLATE}" in arabic_text
    assert f"{FIRST_STRONG_ISOLATE}{MENEFP_AR}{POP_DIRECTIONAL_ISOLATE}" in arabic_text


def test_a_title_given_only_in_arabic_reaches_a_french_contact_isolated() -> None:
    """No French version: the French mail says the Arabic original, isolated from the
    French sentence (U+2068…U+2069 in the text, <bdi> in the HTML part)."""
    words = FileWords.of({"ar": TITLE_AR}, [])
    contact = Contact(name="Awa", email="awa@example.org", language=Language.FRENCH)
    notification = _notification([contact])

    (mail,) = build_messages(notification, "pacte@example.org", words=words)
    rendered = render(notification)

    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{FIRST_STRONG_ISOLATE}{TITLE_AR}{POP_DIRECTIONAL_ISOLATE}" in text
    assert f"<bdi>{TITLE_AR}</bdi>" in rendered.html
    assert rendered.language is Language.FRENCH


def test_a_convention_titled_only_in_arabic_shows_the_original_to_a_french_page() -> None:
    convention = Convention.model_validate({**bamako(), "title": {"ar": TITLE_AR}})
    assert convention.title == TITLE_AR and convention.title_in("fr") == TITLE_AR


def test_iati_names_a_party_the_directory_does_not_hold_in_each_language_given() -> None:
    convention = Convention.model_validate(bamako(name={"fr": MENEFP_FR, "ar": MENEFP_AR}))

    document, incomplete = activities_document(
        [ConventionRecord(convention, [])], Reporter("MA-RC-TEST")
    )

    assert incomplete == [] and document is not None
    assert validation_errors(document) == []
    root = etree.fromstring(document)
    org = next(
        o
        for o in root.iterfind(".//participating-org")
        if any(n.text == MENEFP_AR for n in o.iterfind("narrative"))
    )
    assert {n.get(LANG): n.text for n in org.iterfind("narrative")} == {
        "fr": MENEFP_FR,
        "ar": MENEFP_AR,
    }
    descriptions = {
        n.get(LANG): n.text for n in root.iterfind(".//iati-activity/description/narrative")
    }
    assert MENEFP_AR in (descriptions.get("ar") or "")
    assert MENEFP_FR in (descriptions.get("fr") or "")


def test_a_party_built_in_code_with_names_still_validates() -> None:
    party = Party(id="menefp", name=MENEFP_FR, kind="ministry", names={"ar": MENEFP_AR})
    assert party.name_in("ar") == MENEFP_AR


def test_the_editor_gives_a_partys_name_one_input_per_language_and_reads_them_back() -> None:
    document = bamako(names={"fr": MENEFP_FR, "ar": MENEFP_AR}, name=MENEFP_FR)
    index = next(i for i, p in enumerate(document["parties"]) if p["id"] == "menefp")

    inputs = {i.path: i for i in editor_form.walk(editor_form.build(document))}

    assert inputs[f"parties.{index}.names.ar"].value == MENEFP_AR
    assert inputs[f"parties.{index}.names"].children[-1].path == f"parties.{index}.names.en"
    posted = {
        f"parties.{index}.id": ["menefp"],
        f"parties.{index}.name": [MENEFP_FR],
        f"parties.{index}.names.fr": [MENEFP_FR],
        f"parties.{index}.names.ar": [MENEFP_AR],
        f"parties.{index}.names.en": [""],
    }
    parsed = editor_form.parse(posted)["parties"][0]
    assert parsed["names"] == {"fr": MENEFP_FR, "ar": MENEFP_AR}
    assert Party.model_validate({**parsed, "kind": "ministry"}).name_in("ar") == MENEFP_AR


def test_a_new_organisation_takes_each_name_the_file_gave_into_the_directory() -> None:
    from application.directory.import_proposal import _names

    several = Party(id="menefp", name={"fr": MENEFP_FR, "ar": MENEFP_AR}, kind="ministry")
    assert _names(several) == {"name_fr": MENEFP_FR, "name_ar": MENEFP_AR}
    assert _names(Party(id="menefp", name=MENEFP_AR, kind="ministry")) == {"name_ar": MENEFP_AR}


def test_a_documents_link_says_its_title_isolated_else_download() -> None:
    from web.rendering import templates

    macro = templates.env.from_string(
        '{% from "_documents.html" import document_link with context %}'
        "{{ document_link(uri, None, label, None) }}"
    )
    context = {"_": lambda text: {"Download": "Télécharger"}.get(text, text)}
    linked = {**context, "doc_link": lambda uri, sha256: uri}

    titled = macro.render(linked, uri="https://example.org/v1.pdf", label="مشروع الاتفاقية")
    plain = macro.render(linked, uri="https://example.org/v1.pdf", label=None)
    elsewhere = macro.render(
        {**context, "doc_link": lambda uri, sha256: None}, uri="archive:x", label="Projet"
    )

    assert "<bdi>مشروع الاتفاقية</bdi></a>" in titled and "Télécharger" not in titled
    assert "Télécharger</a>" in plain
    assert "<bdi>Projet</bdi>" in elsewhere and "archive:x" in elsewhere


def test_the_offices_convention_page_is_headed_by_the_title_in_the_readers_language() -> None:
    from application.office.overview import ConventionOverview

    def page(language: str, titles: dict[str, str]) -> ConventionOverview:
        return ConventionOverview(
            [], 0, None, None, [], [], 0, False, language=language, titles=titles
        )

    both = {"fr": "Coopération OFPPT – MENEFP", "ar": TITLE_AR}
    assert page("ar", both).title("Coopération OFPPT – MENEFP") == TITLE_AR
    assert page("en", both).title("Coopération OFPPT – MENEFP") == "Coopération OFPPT – MENEFP"
    assert page("fr", {}).title(TITLE_AR) == TITLE_AR  # a title in one language: as written
