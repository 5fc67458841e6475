"""The office desk's directory pages kept by admins and by officers for the parties of their
conventions: an organisation's API keys (the secret shown once, revoked), its names, kind,
country and parent (a cycle refused beside the field), and the admin's confirmation page for
a file's directory changes (an officer reads it, only an admin accepts, then the same file
starts). Against the real stack, each change read back from the directory's log."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from application.directory.officers import CLI_REASON, officer_person
from application.directory.organisations import NewOrganisation, add_organisation
from application.directory.people import NewPerson, add_person
from application.partner import list_keys
from schemas.convention import Convention, Officer
from storage import directory as store
from storage.read_model import record_convention_file
from tests.cli_runner import cli_env, run_cli, write_convention
from tests.directory_stack import ADMIN, OFFICER, fresh_id, funding_file
from tests.partner_stack import make_desk
from tests.test_delivery_webhook import stop
from tests.test_office_desk import csrf_of, office_client, signed_in
from tests.test_office_editor import import_draft

FRENCH_CYCLE = "formerait une boucle"


async def an_organisation(pool: asyncpg.Pool, prefix: str = "isdb") -> str:
    """A funder the directory holds, with one person."""
    organisation_id = fresh_id(prefix)
    await add_organisation(
        pool,
        OFFICER,
        NewOrganisation(
            id=organisation_id, kind="funder", country="SA", name_fr="Banque islamique"
        ),
    )
    await add_person(
        pool,
        ADMIN,
        organisation_id,
        NewPerson(name="Drissa GUINDO", email=f"drissa@{organisation_id}.example"),
        ["sign"],
    )
    return organisation_id


def responsible(convention: Convention, officer_email: str) -> Convention:
    """The same file, a fresh id, with this officer responsible for it."""
    return convention.model_copy(
        update={
            "id": fresh_id("conv"),
            "officer": Officer(name="Loubna Officer", email=officer_email),
        }
    )


async def change_of(pool: asyncpg.Pool, organisation_id: str, action: str) -> store.Change:
    [found] = [c for c in await store.changes(pool, organisation_id) if c.action == action]
    return found


async def test_an_admin_creates_a_key_shown_once_and_revokes_it_each_recorded(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    other = await an_organisation(db_pool)
    keys = f"/office/directory/{organisation_id}/keys"
    async with office_client(desk) as http:
        admin = await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        assert f'action="{keys}"' in page.text
        csrf = csrf_of(page)
        blank = await http.post(keys, data={"csrf": csrf, "name": "   "})
        assert blank.status_code == 422 and 'id="error-key-name"' in blank.text
        assert "1 à 100 caractères" in blank.text  # the reason, in the page's language
        created = await http.post(keys, data={"csrf": csrf, "name": "Système des dons"})
        assert created.status_code == 200, created.text
        assert created.headers["cache-control"] == "no-store"
        assert "Clé d&#39;API créée." in created.text or "Clé d'API créée." in created.text
        [secret] = re.findall(r'<code dir="ltr" id="new-key">(pk_[^<]+)</code>', created.text)
        [key] = await list_keys(db_pool, organisation_id)
        assert key.name == "Système des dons" and secret.startswith(f"pk_{key.id}_")
        again = await http.get(f"/office/directory/{organisation_id}")
        assert secret not in again.text and key.id in again.text
        # Unknown keys, another organisation's, blank: refused beside the field, nothing revoked.
        [other_key] = [k for k in [await desk.create_key(other, "other")] if k]
        for wrong in ("no-such-key", other_key[1].id, "", key.id + " x"):
            refused = await http.post(f"{keys}/revoke", data={"csrf": csrf, "key_id": wrong})
            assert refused.status_code == 422, (wrong, refused.text)
            assert 'id="error-revoke_key-key_id"' in refused.text
            assert "aucune clé de ce nom pour cette organisation" in refused.text
        assert all(k.revoked_at is None for k in await list_keys(db_pool, other))
        revoked = await http.post(f"{keys}/revoke", data={"csrf": csrf, "key_id": key.id})
        assert revoked.status_code == 200, revoked.text
        assert "Clé d&#39;API révoquée." in revoked.text or "Clé d'API révoquée." in revoked.text
        twice = await http.post(f"{keys}/revoke", data={"csrf": csrf, "key_id": key.id})
        assert twice.status_code == 422 and "déjà révoquée" in twice.text
        missing = await http.post(
            "/office/directory/no-such-organisation/keys", data={"csrf": csrf, "name": "x"}
        )
        assert missing.status_code == 404
        # Ids that cannot be organisations' (a look-alike letter, a space, 300 characters).
        for odd in (organisation_id.replace("i", "\u0456", 1), "is db", "a" * 300):
            odd_key = await http.post(
                f"/office/directory/{odd}/keys", data={"csrf": csrf, "name": "x"}
            )
            assert odd_key.status_code == 404, odd
    [key] = await list_keys(db_pool, organisation_id)
    assert key.revoked_at is not None
    made = await change_of(db_pool, organisation_id, "key.create")
    gone = await change_of(db_pool, organisation_id, "key.revoke")
    assert made.actor == gone.actor == f"admin:{admin}"
    assert made.new_value == {"key": key.id, "name": "Système des dons"}
    assert gone.old_value["revoked_at"] is None and gone.new_value["revoked_at"]
    assert all(secret not in str(c) for c in await store.changes(db_pool, organisation_id))


async def test_an_officer_keeps_the_parties_of_their_conventions_and_no_capacity(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    theirs, stranger = await an_organisation(db_pool), await an_organisation(db_pool)
    async with office_client(desk) as http:
        officer = await signed_in(http, db_pool, "officer")
        await record_convention_file(db_pool, responsible(funding_file(theirs, []), officer))
        # Another officer's convention names the stranger: not this officer's to keep.
        await record_convention_file(
            db_pool, responsible(funding_file(stranger, []), "someone.else@ofppt.example")
        )
        page = await http.get(f"/office/directory/{theirs}")
        assert f'action="/office/directory/{theirs}/keys"' in page.text
        assert f'action="/office/directory/{theirs}/change"' in page.text
        assert f"/office/directory/{theirs}/grant" not in page.text  # capacities: an admin's
        csrf = csrf_of(page)
        created = await http.post(
            f"/office/directory/{theirs}/keys", data={"csrf": csrf, "name": "ERP"}
        )
        assert created.status_code == 200, created.text
        renamed = await http.post(
            f"/office/directory/{theirs}/change",
            data={"csrf": csrf, "name_fr": "BID", "kind": "funder", "country": "SA"},
        )
        assert renamed.status_code == 200, renamed.text
        elsewhere = await http.get(f"/office/directory/{stranger}")
        assert f"/office/directory/{stranger}/keys" not in elsewhere.text
        for path, data in (
            ("keys", {"name": "ERP"}),
            ("change", {"name_fr": "X", "kind": "funder", "country": "SA"}),
        ):
            refused = await http.post(
                f"/office/directory/{stranger}/{path}", data={"csrf": csrf, **data}
            )
            assert refused.status_code == 403, refused.text
        # A capacity given by a non-admin: refused, even for their own convention's party.
        person = (await store.people_of(db_pool, theirs))[0][0]
        grant = await http.post(
            f"/office/directory/{theirs}/grant",
            data={"csrf": csrf, "person_id": person.id, "capacity": "decide_funding"},
        )
        assert grant.status_code == 403
    async with office_client(desk) as auditor:
        await signed_in(auditor, db_pool, "auditor")
        read = await auditor.get(f"/office/directory/{theirs}")
        assert read.status_code == 200 and "/keys" not in read.text
        refused = await auditor.post(
            f"/office/directory/{theirs}/keys", data={"csrf": csrf_of(read), "name": "x"}
        )
        assert refused.status_code == 403
    assert [k.name for k in await list_keys(db_pool, theirs)] == ["ERP"]
    assert await list_keys(db_pool, stranger) == []
    held = {c.capacity for _, cs in await store.people_of(db_pool, theirs) for c in cs}
    assert held == {"sign"}
    made = await change_of(db_pool, theirs, "key.create")
    assert made.actor == f"officer:{officer}"
    renamed_change = await change_of(db_pool, theirs, "organisation.change")
    assert renamed_change.old_value == {"name_fr": "Banque islamique"}
    assert renamed_change.new_value == {"name_fr": "BID"}


async def test_an_organisations_names_and_parent_change_and_a_cycle_is_refused_by_field(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    ministry, directorate = await an_organisation(db_pool, "men"), await an_organisation(db_pool)
    change = f"/office/directory/{ministry}/change"
    good = {"name_fr": "Ministère", "name_ar": "الوزارة", "name_en": "", "kind": "ministry"}
    async with office_client(desk) as http:
        admin = await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{directorate}")
        csrf = csrf_of(page)
        under = await http.post(
            f"/office/directory/{directorate}/change",
            data={
                "csrf": csrf,
                "name_fr": "Direction",
                "kind": "agency",
                "country": "ma",
                "parent_id": ministry,
            },
        )
        assert under.status_code == 200, under.text
        assert "Organisation modifiée." in under.text
        held = await store.organisation(db_pool, directorate)
        assert held is not None and (held.parent_id, held.country) == (ministry, "MA")
        # The ministry under its own directorate: a cycle, refused beside the parent field.
        cycle = await http.post(
            change, data={"csrf": csrf, **good, "country": "MA", "parent_id": directorate}
        )
        assert cycle.status_code == 422, cycle.text
        assert 'id="error-org-parent_id"' in cycle.text and FRENCH_CYCLE in cycle.text
        assert 'aria-describedby="error-org-parent_id"' in cycle.text
        assert 'value="الوزارة"' in cycle.text  # what was typed, kept
        itself = await http.post(
            change, data={"csrf": csrf, **good, "country": "MA", "parent_id": ministry}
        )
        assert itself.status_code == 422 and FRENCH_CYCLE in itself.text
        for odd in (
            directorate.replace("i", "\u0456", 1),  # a Cyrillic look-alike
            f"{directorate} ",
            "a b",
            "a" * 300,
            "UPPER",
        ):
            refused = await http.post(
                change, data={"csrf": csrf, **good, "country": "MA", "parent_id": odd}
            )
            assert refused.status_code == 422, (odd, refused.text)
            assert 'id="error-org-parent_id"' in refused.text
            assert "identifiant d&#39;organisation" in refused.text or (
                "identifiant d'organisation" in refused.text
            )
        unknown = await http.post(
            change, data={"csrf": csrf, **good, "country": "MA", "parent_id": "no-such-org"}
        )
        assert unknown.status_code == 422 and "aucune organisation" in unknown.text.lower()
        bad = await http.post(
            change,
            data={
                "csrf": csrf,
                "name_fr": "",
                "name_ar": "",
                "name_en": "",
                "kind": "castle",
                "country": "Maroc",
            },
        )
        assert bad.status_code == 422
        for field in ("name_fr", "kind", "country"):
            assert f'id="error-org-{field}"' in bad.text, field
        # The same refusal in Arabic, for a reader who reads Arabic.
        switched = await http.post(
            "/office/language",
            data={"csrf": csrf, "language": "ar", "next": f"/office/directory/{ministry}"},
        )
        assert switched.status_code == 303
        arabic = await http.post(
            change, data={"csrf": csrf, **good, "country": "MA", "parent_id": directorate}
        )
        assert arabic.status_code == 422 and 'dir="rtl"' in arabic.text
        assert "حلقة" in arabic.text and FRENCH_CYCLE not in arabic.text
    held = await store.organisation(db_pool, ministry)
    assert held is not None and held.parent_id is None and held.name_fr == "Banque islamique"
    recorded = await change_of(db_pool, directorate, "organisation.change")
    assert recorded.actor == f"admin:{admin}"
    assert recorded.old_value == {
        "name_fr": "Banque islamique",
        "kind": "funder",
        "country": "SA",
        "parent_id": None,
    }
    assert recorded.new_value["parent_id"] == ministry


async def _start(http: httpx.AsyncClient, convention: Convention) -> httpx.Response:
    page = await http.get("/office/start")
    return await http.post(
        "/office/start",
        data={
            "csrf": csrf_of(page),
            "document": convention.model_dump_json(exclude_none=True),
            "filename": f"{convention.id}.json",
            "action": "start",
        },
    )


async def test_a_start_refused_for_directory_changes_is_accepted_by_an_admin_then_starts(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    known = {"name": "Drissa GUINDO", "email": f"drissa@{organisation_id}.example"}
    intruder = {"name": "Mallory Intrus", "email": f"mallory@{organisation_id}.example"}
    convention = funding_file(organisation_id, [known, intruder]).model_copy(
        update={"id": fresh_id("conv")}
    )
    async with office_client(desk) as officer:
        await signed_in(officer, db_pool, "officer")
        refused = await _start(officer, convention)
        assert refused.status_code == 409, refused.text
        assert "Mallory Intrus" in refused.text and "contacts.1" in refused.text
        # Each difference in the reader's language, the file's facts isolated in it.
        assert "ajoute \u2068Mallory Intrus\u2069 &lt;" in refused.text
        assert "comme personne agissant pour elle" in refused.text
        [kept] = re.findall(r'href="/office/directory/proposals/(dp-[0-9a-f]+)"', refused.text)
        assert convention.id in refused.text  # the preview and its Start button, kept
        proposal = f"/office/directory/proposals/{kept}"
        shown = await officer.get(proposal)
        assert shown.status_code == 200, shown.text
        assert "Mallory Intrus" in shown.text and "Un administrateur doit accepter" in shown.text
        assert "comme personne agissant pour elle" in shown.text
        assert f"{proposal}/accept" not in shown.text
        forbidden = await officer.post(f"{proposal}/accept", data={"csrf": csrf_of(shown)})
        assert forbidden.status_code == 403
        assert await store.person_by_email(db_pool, intruder["email"]) is None
        async with office_client(desk) as http:
            admin = await signed_in(http, db_pool, "admin")
            page = await http.get(proposal)
            assert f'action="{proposal}/accept"' in page.text and "Mallory Intrus" in page.text
            accepted = await http.post(f"{proposal}/accept", data={"csrf": csrf_of(page)})
            assert accepted.status_code == 200, accepted.text
            assert "Modifications de l&#39;annuaire acceptées." in accepted.text or (
                "Modifications de l'annuaire acceptées." in accepted.text
            )
            twice = await http.post(f"{proposal}/accept", data={"csrf": csrf_of(page)})
            assert twice.status_code == 409 and "ont déjà été acceptées" in twice.text
            assert (await http.get("/office/directory/proposals/dp-none")).status_code == 404
        ready = await officer.get(proposal)
        assert 'id="no-difference"' in ready.text and 'action="/office/start"' in ready.text
        started = await _start(officer, convention)
        assert started.status_code == 303, started.text
        assert started.headers["location"] == f"/office/conventions/{convention.id}"
    person = await store.person_by_email(db_pool, intruder["email"])
    assert person is not None
    made = [c for c in await store.changes(db_pool, organisation_id) if c.person_id == person.id]
    assert made and {c.actor for c in made} == {f"admin:{admin}"}
    assert all("accepted from convention" in (c.reason or "") for c in made)
    await stop(dev_env.client, convention.id)


async def test_the_command_lines_officer_becomes_one_directory_person_created_once(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    name = f"Loubna {fresh_id('cli')}"
    first = await officer_person(db_pool, name)
    again = await officer_person(db_pool, f"  {name} ")
    assert first.id == again.id and first.email is None and first.name == name
    address = f"{fresh_id('officer')}@ofppt.example"
    by_address = await officer_person(db_pool, address)
    assert by_address.email == address
    assert (await officer_person(db_pool, address.upper())).id == by_address.id
    made = await db_pool.fetch(
        "SELECT actor, reason FROM directory_changes WHERE person_id = $1", first.id
    )
    assert [(row["actor"], row["reason"]) for row in made] == [(f"officer:{name}", CLI_REASON)]
    # `starter.py start --officer` makes its officer a person too, once.
    officer = f"Nadia {fresh_id('cli')}"
    convention = funding_file(fresh_id(), []).model_copy(update={"id": fresh_id("conv")})
    started = await run_cli(
        "start", "--officer", officer, str(write_convention(convention, tmp_path / "c.yaml")),
        env=cli_env(dev_env, postgres_url),
    )  # fmt: skip
    assert started.code == 0, started
    people = await db_pool.fetch("SELECT id FROM directory_people WHERE name = $1", officer)
    assert len(people) == 1
    await stop(dev_env.client, convention.id)


async def test_a_draft_refused_for_directory_changes_stays_and_its_page_leads_back_to_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    intruder = {"name": "Mallory Intrus", "email": f"mallory@{organisation_id}.example"}
    convention = funding_file(organisation_id, [intruder]).model_copy(
        update={"id": fresh_id("conv")}
    )
    text = convention.model_dump_json(exclude_none=True)
    async with office_client(desk) as officer:
        await signed_in(officer, db_pool, "officer")
        _page, draft_id = await import_draft(officer, text, "intruder.json")
        preview = await officer.get(f"/office/editor/{draft_id}/preview")
        refused = await officer.post(
            f"/office/editor/{draft_id}/start", data={"csrf": csrf_of(preview), "version": "1"}
        )
        assert refused.status_code == 409, refused.text
        assert "Le brouillon est gardé tel quel." in refused.text
        [kept] = re.findall(r'href="/office/directory/proposals/(dp-[0-9a-f]+)"', refused.text)
        async with office_client(desk) as http:
            await signed_in(http, db_pool, "admin")
            page = await http.get(f"/office/directory/proposals/{kept}")
            assert "Mallory Intrus" in page.text
            accepted = await http.post(
                f"/office/directory/proposals/{kept}/accept", data={"csrf": csrf_of(page)}
            )
            assert accepted.status_code == 200, accepted.text
        ready = await officer.get(f"/office/directory/proposals/{kept}")
        assert f'href="/office/editor/{draft_id}/preview"' in ready.text
        preview = await officer.get(f"/office/editor/{draft_id}/preview")
        started = await officer.post(
            f"/office/editor/{draft_id}/start", data={"csrf": csrf_of(preview), "version": "1"}
        )
        assert started.status_code == 303, started.text
    await stop(dev_env.client, convention.id)
