"""Who may act for a party, asked of the directory at the moment of acting.

A person acts for an organisation only if the directory says so now: the organisation is
active, the person is not removed, their address answered a mailed link, and they hold the
capacity the task needs today (signing needs `sign`, a funding decision `decide_funding`,
reviewing a draft `review`, any other task `answer`). The answer is read in one snapshot and
carries the ids and the version it was read at (`DirectoryCheck`), which the update records.

The directory decides alone for every organisation it holds, whatever its people's addresses:
a contact it does not name for the organisation (by address when the link or session carries
one, else by name) is refused, whatever a convention file says. An organisation the directory
does not hold at all (a convention started before the directory and not migrated: `starter.py
parties migrate`; `start_convention` called directly, as tests and benchmarks do) has nothing
in it to protect yet: its conventions' files still decide, as before the directory. Every
start through `starter.py start` or the office desk imports the file's organisations first,
so an organisation started that way is always the directory's. `Authority.known` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from application.directory.capacities import DirectoryCapacity
from application.errors import LinkUnusable, Refused, Unauthenticated
from infra.database import Database
from rendering.zones import zone_for
from schemas.actors import DirectoryCheck, capacity_for_task
from schemas.tasks import TaskKind
from storage import directory as store

_WORDING = {
    DirectoryCapacity.SIGN: "signing authority",
    DirectoryCapacity.DECIDE_FUNDING: "authority to decide on funding",
    DirectoryCapacity.REVIEW: "authority to review drafts",
    DirectoryCapacity.ANSWER: "authority to answer its tasks",
}


def capacity_for(task_kind: str) -> DirectoryCapacity:
    """The capacity a task of this kind needs."""
    return DirectoryCapacity(capacity_for_task(task_kind))


@dataclass(frozen=True)
class Authority:
    """The directory's word on one person (or system) for one organisation, at one version."""

    organisation_id: str
    standing: store.Standing
    today: date
    who: str

    @property
    def known(self) -> bool:
        """The directory holds the organisation, and so decides alone who acts for it (else,
        an organisation it does not hold at all, its conventions' files still decide)."""
        return self.standing.organisation is not None

    def reading_zone(self) -> str:
        """The zone the person reads dates in: the one they chose, else their organisation's
        country's, else UTC (rendering.zones.zone_for), from this same read."""
        person, organisation = self.standing.person, self.standing.organisation
        zone, _fallback = zone_for(
            person.time_zone if person is not None else None,
            organisation.country if organisation is not None else None,
        )
        return zone

    def _held_now(self) -> set[str]:
        return {c.capacity for c in self.standing.capacities if c.valid_on(self.today)}

    def refusal(self, needed: DirectoryCapacity | None = None) -> str | None:
        """Why the person may not act (for this capacity, or at all), or None when they may."""
        organisation, person = self.standing.organisation, self.standing.person
        if organisation is None:
            return None
        if organisation.archived_at is not None:
            return f"{organisation.id} is archived in the directory"
        if person is None:
            return f"the directory names no {self.who} acting for {organisation.id}"
        if person.removed_at is not None:
            return f"{person.name} was removed from the directory"
        held = self._held_now()
        if needed is None:
            return None if held else f"{person.name} holds no capacity for {organisation.id} today"
        if needed.value in held:
            return None
        ended = [
            c.valid_until
            for c in self.standing.capacities
            if c.capacity == needed.value
            and c.revoked_at is None
            and c.valid_until is not None
            and c.valid_until < self.today
        ]
        if ended:
            return (
                f"{person.name}'s {_WORDING[needed]} for {organisation.id} ended on "
                f"{max(ended).isoformat()}"
            )
        return f"{person.name} has no {_WORDING[needed]} for {organisation.id}"

    def allows(self, task_kind: str) -> bool:
        """May act on a task of this kind (always, for an organisation the directory lacks)."""
        return self.refusal(capacity_for(task_kind)) is None

    def allowed_kinds(self) -> list[str] | None:
        """The task kinds this person may act on today; None: every kind (an organisation
        the directory does not hold)."""
        if not self.known:
            return None
        return [kind.value for kind in TaskKind if self.allows(kind.value)]

    def check(self, task_kind: str) -> DirectoryCheck | None:
        """What the answer records; Refused with the reason when the directory says no."""
        needed = capacity_for(task_kind)
        reason = self.refusal(needed)
        if reason is not None:
            raise Refused(f"principal: {reason}")
        if not self.known:
            return None
        person = self.standing.person
        if person is not None and person.confirmed_at is None:
            raise Refused(f"principal: {person.name}'s address was never confirmed")
        return DirectoryCheck(
            organisation=self.organisation_id,
            person=None if person is None else person.id or None,  # "": the system
            capacity=needed.value,
            version=self.standing.version,
        )


async def authority_of(
    db: Database, organisation_id: str, *, name: str, email: str | None = None
) -> Authority:
    """The directory's word on a contact (by address, or by name when none) for a party."""
    standing = await store.standing(db, organisation_id, email=email, name=name)
    return contact_authority(organisation_id, standing, name=name)


async def system_authority(db: Database, organisation_id: str) -> Authority:
    """The directory's word on an organisation's own system (API key, signed event): it acts
    for the organisation while the organisation is active."""
    standing = await store.standing(db, organisation_id, email=None, name="")
    return system_authority_read(organisation_id, standing.version, standing.organisation)


def system_authority_read(
    organisation_id: str, version: int, organisation: store.Organisation | None
) -> Authority:
    """`system_authority` from the directory's row and version already read (the API
    answer reads them with its key, in the same statement)."""
    every = [
        store.Capacity(0, "", organisation_id, capacity.value, None, None, "system", None)
        for capacity in DirectoryCapacity
    ]
    system = store.Person(
        "", f"{organisation_id}'s system", None, "fr", None, datetime.now(UTC), None
    )
    return Authority(
        organisation_id,
        store.Standing(version, organisation, system, every),
        datetime.now(UTC).date(),
        "system",
    )


async def authorize_link(
    db: Database, organisation_id: str, *, name: str, email: str | None
) -> Authority:
    """A mailed link opens only for a person the directory names for its party now; opening
    it confirms their address (the directory shows who never answered)."""
    authority = await authority_of(db, organisation_id, name=name, email=email)
    reason = authority.refusal()
    if reason is not None:
        raise LinkUnusable(f"this link no longer opens the desk: {reason}")
    person = authority.standing.person
    if person is not None and person.confirmed_at is None:
        await store.confirm_address(db, person.id)
    return authority


def contact_authority(organisation_id: str, standing: store.Standing, *, name: str) -> Authority:
    """`authority_of` from the directory's word already read (a session's check reads it
    with the session, in one statement)."""
    return Authority(organisation_id, standing, datetime.now(UTC).date(), f"{name!r}")


def session_authority(authority: Authority) -> Authority:
    """The authority of a session's person; Unauthenticated once the directory no longer
    names them (removed, no capacity left, the organisation archived)."""
    reason = authority.refusal()
    if reason is not None:
        raise Unauthenticated(f"your session has ended: {reason}")
    return authority
