"""An organisation's names (FR/AR/EN, as written), kind, country and parent, corrected on
the office desk: by an admin, or an officer of the organisation's conventions (`keepers`);
one change in the log with the old and the new values. A parent that would put the
organisation under itself (directly or through its own sub-organisations) is refused.

The reasons are fixed sentences, each in the catalogues, so that the page says them in its
reader's language beside the field they name."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from application.directory.editors import Editor
from application.directory.keepers import require_keeper
from application.directory.organisations import NAME_MAX, organisation_id_problem
from application.errors import InvalidInput, NotFound
from infra.database import transaction
from schemas.convention import PartyKind
from schemas.errors import DetailCode, FieldError, coded_detail
from storage import directory as store
from storage import directory_desk as desk_store

NAME_REASON = "1 to 200 characters"
NO_NAME_REASON = "at least one name (fr, ar or en)"
KIND_REASON = "not one of the kinds offered"
COUNTRY_REASON = "an ISO 3166-1 alpha-2 code, e.g. MA, ML"
PARENT_ID_REASON = (
    "an organisation id: 2 to 64 lowercase ASCII letters, digits and '-', "
    "no spaces, no look-alike letters of another script"
)
PARENT_UNKNOWN_REASON = "no organisation has this id"
PARENT_CYCLE_REASON = (
    "would make a cycle: an organisation cannot be under itself or under one of its own "
    "sub-organisations"
)
FIELDS = ("name_fr", "name_ar", "name_en", "kind", "country", "parent_id")


@dataclass(frozen=True)
class OrganisationEdit:
    """What the form sends: every field, blank for none."""

    name_fr: str = ""
    name_ar: str = ""
    name_en: str = ""
    kind: str = ""
    country: str = ""
    parent_id: str = ""


def _checked(organisation_id: str, edit: OrganisationEdit) -> dict[str, str | None]:
    errors: list[FieldError] = []
    names = {
        "name_fr": " ".join(edit.name_fr.split()) or None,
        "name_ar": " ".join(edit.name_ar.split()) or None,
        "name_en": " ".join(edit.name_en.split()) or None,
    }
    for field, name in names.items():
        if name is not None and len(name) > NAME_MAX:
            errors.append(FieldError(field, NAME_REASON))
    if not any(names.values()):
        errors.append(FieldError("name_fr", NO_NAME_REASON))
    if edit.kind not in {kind.value for kind in PartyKind}:
        errors.append(FieldError("kind", KIND_REASON))
    country = edit.country.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors.append(FieldError("country", COUNTRY_REASON))
    # No strip: a parent id with a space in it is refused, not mended.
    parent = edit.parent_id or None
    if parent is not None and organisation_id_problem(parent):
        errors.append(FieldError("parent_id", PARENT_ID_REASON))
    elif parent == organisation_id:
        errors.append(FieldError("parent_id", PARENT_CYCLE_REASON))
    if errors:
        raise InvalidInput(f"organisation {organisation_id!r} not changed", errors)
    return {**names, "kind": edit.kind, "country": country, "parent_id": parent}


async def change_organisation(
    pool: asyncpg.Pool, editor: Editor, organisation_id: str, edit: OrganisationEdit
) -> store.Organisation:
    """Set the organisation's names, kind, country and parent: the editor's change."""
    values = _checked(organisation_id, edit)
    async with transaction(pool) as connection:
        before = await store.organisation(connection, organisation_id)
        if before is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        await require_keeper(connection, editor, organisation_id, "changing an organisation")
        parent = values["parent_id"]
        if parent is not None:
            if await store.organisation(connection, parent) is None:
                raise InvalidInput(
                    "unknown parent", [FieldError("parent_id", PARENT_UNKNOWN_REASON)]
                )
            # The new parent's chain up: the organisation in it would be its own ancestor.
            if organisation_id in await desk_store.ancestors(connection, parent):
                raise InvalidInput("parent cycle", [FieldError("parent_id", PARENT_CYCLE_REASON)])
        old = {field: getattr(before, field) for field in FIELDS}
        if old == values:
            return before
        after = await desk_store.update_organisation(connection, organisation_id, values)
        if after is None:  # pragma: no cover - read in this transaction
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="organisation.change",
            organisation_id=organisation_id,
            old_value={k: v for k, v in old.items() if values[k] != v},
            new_value={k: v for k, v in values.items() if old[k] != v},
        )
    return after
