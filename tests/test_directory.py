"""The partner directory's rules, against the real PostgreSQL: ids, who may grant what, one
person for one address, addresses that never answered, dates of authority, the version an
answer is checked against, and a convention file read as an import proposal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from application.directory.authority import authority_of, authorize_link
from application.directory.import_proposal import (
    DirectoryChangesRefused,
    parties_imported,
    propose,
)
from application.directory.organisations import NewOrganisation, add_organisation
from application.directory.people import (
    NewPerson,
    add_person,
    grant_capacity,
    remove_person,
    revoke_capacity,
)
from application.errors import Forbidden, InvalidInput, LinkUnusable, Refused
from storage import directory as store
from tests.directory_stack import ADMIN, OFFICER, fresh_id, funding_file
from web.problems import status_and_title

FUNDER = {"name": "Fatima Zahra EL ALAOUI", "email": "fz.alaoui@isdb.example", "language": "ar"}


async def an_organisation(pool: asyncpg.Pool, prefix: str = "bid") -> str:
    organisation_id = fresh_id(prefix)
    await add_organisation(
        pool,
        OFFICER,
        NewOrganisation(id=organisation_id, kind="funder", country="SA", name_ar="البنك"),
    )
    return organisation_id


def an_address() -> str:
    return f"{fresh_id('person')}@partner.example"


@pytest.mark.parametrize(
    ("organisation_id", "reason"),
    [
        ("isdb jeddah", "space"),
        ("bіd", "U+0456"),  # a Cyrillic і in the middle: a homoglyph of 'i'
        ("b" * 300, "300 characters"),
        ("BID", "capitals"),
        ("b", "1 characters"),
    ],
)
async def test_an_organisation_id_with_spaces_homoglyphs_or_300_characters_is_refused(
    db_pool: asyncpg.Pool, organisation_id: str, reason: str
) -> None:
    before = await store.version(db_pool)
    with pytest.raises(InvalidInput) as refused:
        await add_organisation(
            db_pool,
            ADMIN,
            NewOrganisation(id=organisation_id, kind="funder", country="SA", name_fr="X"),
        )
    assert refused.value.errors[0].field == "id"
    assert reason in refused.value.errors[0].reason
    assert await store.organisation(db_pool, organisation_id) is None
    assert await store.version(db_pool) == before
    # The table itself refuses what the use case would: no other writer can slip one in.
    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute(
            "INSERT INTO directory_organisations (id, kind, country, name_fr, created_by)"
            " VALUES ($1, 'funder', 'SA', 'X', 'test')",
            organisation_id,
        )


async def test_a_capacity_given_by_a_non_admin_is_forbidden(db_pool: asyncpg.Pool) -> None:
    organisation_id = await an_organisation(db_pool)
    before = await store.version(db_pool)
    with pytest.raises(Forbidden) as refused:
        await add_person(
            db_pool,
            OFFICER,
            organisation_id,
            NewPerson("Jean-Baptiste Koné", an_address()),
            ["sign"],
        )
    assert status_and_title(refused.value)[0] == 403  # what the web answers
    person = await add_person(
        db_pool, ADMIN, organisation_id, NewPerson("Jean-Baptiste Koné", an_address()), ["answer"]
    )
    with pytest.raises(Forbidden):
        await grant_capacity(db_pool, OFFICER, person.id, organisation_id, "sign")
    with pytest.raises(Forbidden):
        await revoke_capacity(db_pool, OFFICER, person.id, organisation_id)
    with pytest.raises(Forbidden):
        await remove_person(db_pool, OFFICER, person.id)
    [(_, capacities)] = await store.people_of(db_pool, organisation_id)
    assert [c.capacity for c in capacities] == ["answer"]
    # Only the admin's two changes (the person, the capacity) were recorded.
    assert await store.version(db_pool) == before + 2


async def test_the_same_email_claimed_by_two_organisations_is_one_person_with_a_capacity_for_each(
    db_pool: asyncpg.Pool,
) -> None:
    isdb, menefp = await an_organisation(db_pool), await an_organisation(db_pool, "menefp")
    address = an_address()
    first = await add_person(db_pool, ADMIN, isdb, NewPerson("Awa Diallo", address), ["review"])
    second = await add_person(
        db_pool, ADMIN, menefp, NewPerson("Awa Diallo", address.upper()), ["sign"]
    )
    assert first.id == second.id
    for organisation_id, held, not_held in (
        (isdb, "review_draft", "sign"),
        (menefp, "sign", "review_draft"),
    ):
        authority = await authority_of(db_pool, organisation_id, name="Awa Diallo", email=address)
        assert authority.allows(held) and not authority.allows(not_held)


async def test_an_address_that_never_answered_is_shown_until_a_mailed_link_is_opened(
    db_pool: asyncpg.Pool,
) -> None:
    organisation_id = await an_organisation(db_pool)
    address = an_address()
    person = await add_person(
        db_pool, ADMIN, organisation_id, NewPerson("سلمى بناني", address, "ar"), ["answer"]
    )
    silent = await store.never_answered(db_pool, organisation_id)
    assert [p.id for p in silent] == [person.id]
    # Unconfirmed, the directory refuses its answers (with the reason) …
    authority = await authority_of(db_pool, organisation_id, name="سلمى بناني", email=address)
    with pytest.raises(Refused, match="never confirmed"):
        authority.check("provide_information")
    # … until the first link mailed to the address is opened.
    await authorize_link(db_pool, organisation_id, name="سلمى بناني", email=address)
    assert await store.never_answered(db_pool, organisation_id) == []
    confirmed = await authority_of(db_pool, organisation_id, name="سلمى بناني", email=address)
    assert confirmed.check("provide_information") is not None


async def test_a_signature_by_a_person_whose_signing_authority_expired_yesterday_is_refused(
    db_pool: asyncpg.Pool,
) -> None:
    organisation_id = await an_organisation(db_pool, "menefp")
    address = an_address()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    person = await add_person(
        db_pool, ADMIN, organisation_id, NewPerson("Drissa GUINDO", address), ["answer"]
    )
    await grant_capacity(
        db_pool,
        ADMIN,
        person.id,
        organisation_id,
        "sign",
        valid_from=date(2024, 1, 1),
        valid_until=yesterday,
    )
    await authorize_link(db_pool, organisation_id, name="Drissa GUINDO", email=address)
    authority = await authority_of(db_pool, organisation_id, name="Drissa GUINDO", email=address)
    with pytest.raises(Refused) as refused:
        authority.check("sign")
    assert f"signing authority for {organisation_id} ended on {yesterday.isoformat()}" in (
        refused.value.detail
    )


async def test_a_directory_change_racing_an_answer_is_checked_against_one_version(
    db_pool: asyncpg.Pool,
) -> None:
    organisation_id = await an_organisation(db_pool)
    address = an_address()
    person = await add_person(
        db_pool, ADMIN, organisation_id, NewPerson("Koffi Mensah", address), ["decide_funding"]
    )
    await authorize_link(db_pool, organisation_id, name="Koffi Mensah", email=address)
    checked = await authority_of(db_pool, organisation_id, name="Koffi Mensah", email=address)
    check = checked.check("decide_funding")
    assert check is not None and check.person == person.id and check.capacity == "decide_funding"
    # The revocation lands after the read: the answer keeps the version it was checked at,
    # and any later check sees the revocation, at a later version.
    await revoke_capacity(db_pool, ADMIN, person.id, organisation_id, "decide_funding")
    assert check.version < await store.version(db_pool)
    later = await authority_of(db_pool, organisation_id, name="Koffi Mensah", email=address)
    assert later.standing.version > check.version
    with pytest.raises(Refused):
        later.check("decide_funding")
    # A read inside a snapshot sees one version whatever commits meanwhile.
    async with db_pool.acquire() as reader, reader.transaction(isolation="repeatable_read"):
        seen = await store.standing(reader, organisation_id, email=address, name="")
        await grant_capacity(db_pool, ADMIN, person.id, organisation_id, "decide_funding")
        again = await store.standing(reader, organisation_id, email=address, name="")
        assert again.version == seen.version
        assert [c.capacity for c in again.capacities if c.revoked_at is None] == []


async def test_an_unknown_organisation_is_created_with_its_people_as_the_starting_officers_change(
    db_pool: asyncpg.Pool,
) -> None:
    party_id = fresh_id()
    convention = funding_file(party_id, [FUNDER | {"email": an_address()}])
    started: list[str] = []
    async with parties_imported(db_pool, OFFICER, convention) as proposal:
        started.append(convention.id)
    assert started == [convention.id]
    assert party_id in [party.id for party in proposal.new_organisations]
    [(person, capacities)] = await store.people_of(db_pool, party_id)
    assert person.name == FUNDER["name"] and person.language == "ar"
    assert {c.capacity for c in capacities} == {"answer", "review", "sign", "decide_funding"}
    changes = await store.changes(db_pool, party_id)
    assert {change.actor for change in changes} == {OFFICER.recorded_as}
    assert all(f"convention {convention.id}'s file" in (c.reason or "") for c in changes)


async def test_a_file_adding_a_contact_to_an_existing_organisation_is_refused_and_nothing_starts(
    db_pool: asyncpg.Pool,
) -> None:
    party_id, funder = fresh_id(), FUNDER | {"email": an_address()}
    async with parties_imported(db_pool, OFFICER, funding_file(party_id, [funder])):
        pass
    before = await store.version(db_pool)
    intruder = {"name": "Mallory Intrus", "email": an_address()}
    started: list[str] = []
    with pytest.raises(DirectoryChangesRefused) as refused:
        async with parties_imported(db_pool, OFFICER, funding_file(party_id, [funder, intruder])):
            started.append("started")
    assert started == []
    [difference] = refused.value.errors
    assert difference.field == "parties.2.contacts.1"
    assert f"adds Mallory Intrus <{intruder['email']}>" in difference.reason
    assert "Mallory Intrus" in refused.value.detail
    assert await store.version(db_pool) == before
    assert [p.name for p, _ in await store.people_of(db_pool, party_id)] == [FUNDER["name"]]


async def test_a_file_changing_an_existing_contacts_address_is_refused_with_the_difference(
    db_pool: asyncpg.Pool,
) -> None:
    party_id, funder = fresh_id(), FUNDER | {"email": an_address()}
    async with parties_imported(db_pool, OFFICER, funding_file(party_id, [funder])):
        pass
    moved = funder | {"email": an_address()}
    proposal = await propose(db_pool, funding_file(party_id, [moved]))
    [difference] = proposal.differences
    assert (
        f"changes the address of {FUNDER['name']} from {funder['email']} to {moved['email']}"
        in difference.reason
    )
    with pytest.raises(DirectoryChangesRefused):
        async with parties_imported(db_pool, OFFICER, funding_file(party_id, [moved])):
            pass
    # An officer cannot accept it; an admin can, and it is recorded as the admin's change.
    with pytest.raises(Forbidden):
        async with parties_imported(db_pool, OFFICER, funding_file(party_id, [moved]), accept=True):
            pass
    async with parties_imported(db_pool, ADMIN, funding_file(party_id, [moved]), accept=True):
        pass
    [(person, _)] = await store.people_of(db_pool, party_id)
    assert person.email == moved["email"] and person.confirmed_at is None
    latest = await store.changes(db_pool, party_id, limit=2)  # the address, the capacities
    assert {change.actor for change in latest} == {ADMIN.recorded_as}


async def test_a_file_setting_another_webhook_for_an_existing_organisation_is_refused(
    db_pool: asyncpg.Pool,
) -> None:
    party_id = fresh_id()
    async with parties_imported(
        db_pool, OFFICER, funding_file(party_id, [], webhook_url="https://isdb.example/hooks")
    ):
        pass
    with pytest.raises(DirectoryChangesRefused) as refused:
        async with parties_imported(
            db_pool, OFFICER, funding_file(party_id, [], webhook_url="https://evil.example/x")
        ):
            pass
    [difference] = refused.value.errors
    assert difference.field.endswith(".webhook_url")
    assert await store.webhook_url(db_pool, party_id) == "https://isdb.example/hooks"


async def test_a_removed_person_opens_no_link_and_their_past_name_stays_in_the_log(
    db_pool: asyncpg.Pool,
) -> None:
    organisation_id = await an_organisation(db_pool)
    address = an_address()
    person = await add_person(
        db_pool, ADMIN, organisation_id, NewPerson("Ousmane Traoré", address), ["answer"]
    )
    await remove_person(db_pool, ADMIN, person.id, "left the bank")
    with pytest.raises(LinkUnusable, match="removed"):
        await authorize_link(db_pool, organisation_id, name="Ousmane Traoré", email=address)
    [removal] = [c for c in await store.changes(db_pool) if c.person_id == person.id][:1]
    assert removal.action == "person.remove" and removal.old_value["name"] == "Ousmane Traoré"
