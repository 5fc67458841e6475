"""The directory decides who is told and where, and the record says who acted in which
capacity (issue 23): an answer's milestone says "signed by <person> (<capacity>, for
<organisation>)" by the directory's names in the reader's language; a task's mail and links
go to the directory's people of the organisation who may act on it, not to the contacts a
convention file lists; a delivery goes to the directory's webhook endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rendering.record import PartyNames, directory_people, milestone_text
from schemas.milestones import Milestone, MilestoneKind

PERSON_ID = "p-awa"
PERSON = "Awa NDIAYE"
ORGANISATION = "Banque islamique de développement"


def answered(seq: int, answer: dict[str, Any], capacity: str, name: str = "awa") -> Milestone:
    """A task_answered milestone whose principal the directory checked."""
    return Milestone(
        convention_id="c-links",
        seq=seq,
        kind=MilestoneKind.TASK_ANSWERED,
        task_id="t",
        party="isdb",
        actor=name,
        occurred_at=datetime(2026, 12, 7, tzinfo=UTC),
        summary="answered",
        details={
            "answer": answer,
            "principal": {
                "kind": "contact",
                "id": name,
                "name": name,
                "party": "isdb",
                "method": "link_and_code",
                "directory": {
                    "organisation": "isdb",
                    "person": PERSON_ID,
                    "capacity": capacity,
                    "version": 4,
                },
            },
        },
    )


DECISION_ANSWER = {
    "kind": "decide_funding",
    "decision": "approve",
    "granted": {"amount": "36000000", "currency": "IsDB-ID"},
}
SIGNATURE_ANSWER = {"kind": "sign", "decision": "sign"}


def test_an_answer_names_the_person_the_capacity_and_the_organisation_in_each_language() -> None:
    names = PartyNames.of({"isdb": ORGANISATION}, {PERSON_ID: PERSON})
    decision = answered(1, DECISION_ANSWER, "decide_funding")
    said = {lang: milestone_text(decision, lang, names).text for lang in ("fr", "ar", "en")}
    assert "décidé par" in said["fr"] and "pouvoir de décider d'un financement" in said["fr"]
    assert "صلاحية البت في التمويل" in said["ar"] and "قرّرها" in said["ar"]
    assert "decided by" in said["en"] and "authority to decide on funding" in said["en"]
    for text in said.values():
        # Names, not ids: the directory's person and organisation.
        assert PERSON in text and ORGANISATION in text, text
        assert PERSON_ID not in text and "isdb" not in text, text
    assert directory_people([decision.details]) == [PERSON_ID]


def test_a_signature_says_signed_by_and_without_the_directory_the_recorded_name() -> None:
    signature = answered(2, SIGNATURE_ANSWER, "sign", name="Awa N.")
    # No directory at hand (a file read offline): the principal's recorded name.
    offline = milestone_text(signature, "en", PartyNames.of({"isdb": ORGANISATION})).text
    assert "signed by Awa N. (signing authority, for " + ORGANISATION in offline, offline
    arabic = milestone_text(signature, "ar", PartyNames.of({}, {PERSON_ID: PERSON})).text
    assert "وقّعها" in arabic and "صلاحية التوقيع" in arabic and PERSON in arabic, arabic
