"""Who acted: the authenticated principal an answer carries inside its Temporal update.

Temporal's event `identity` is whatever a client says, so the proof of who acted travels in
the update's own payload: the web desks and the CLI authenticate the person or system, build
a Principal, and the workflow's validator checks it against the task (the party that owes
it, the contact it was reassigned to). This module is the one definition of that shape.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.values import Frozen, Identifier, ShortText


class PrincipalKind(StrEnum):
    """What kind of actor answered."""

    CONTACT = "contact"
    """A named contact of the party, from the file."""
    API_KEY = "api_key"
    """A partner's system, with one of the party's API keys."""
    OFFICER = "officer"
    """A cooperation officer of the training office."""


class AuthMethod(StrEnum):
    """How the actor was authenticated."""

    LINK = "link"
    """The contact's personal e-mailed link."""
    LINK_AND_CODE = "link_and_code"
    """The link, confirmed by a one-time code e-mailed to the contact."""
    API_KEY = "api_key"
    """A party's API key, sent as a bearer token."""
    SIGNED_EVENT = "signed_event"
    """A CloudEvent signed with the party's Standard Webhooks secret."""
    OFFICER_ON_BEHALF = "officer_on_behalf"
    """An officer entered the answer for the party (CLI or office desk)."""


METHOD_WORDING = {
    AuthMethod.LINK: "e-mailed link",
    AuthMethod.LINK_AND_CODE: "e-mailed link confirmed by code",
    AuthMethod.API_KEY: "API key",
    AuthMethod.SIGNED_EVENT: "signed event",
    AuthMethod.OFFICER_ON_BEHALF: "entered by the officer",
}


TASK_CAPACITIES = {
    "sign": "sign",
    "decide_funding": "decide_funding",
    "review_draft": "review",
    "revise_draft": "review",
}
"""The directory's capacity each task kind needs (any other kind: `answer`)."""


def capacity_for_task(task_kind: str) -> str:
    """The capacity a task of this kind needs: signing `sign`, a funding decision
    `decide_funding`, a draft `review`, any other task `answer`. One rule for who may act
    (the desk's check) and who is told (the task's mail and links)."""
    return TASK_CAPACITIES.get(task_kind, "answer")


class DirectoryCheck(Frozen):
    """What the partner directory said when the answer was authorised (issue 23): the
    person and organisation ids, the capacity the task needed, and the directory's version,
    so that the record says which state of the directory the answer was checked against."""

    organisation: Identifier
    person: ShortText | None = Field(
        default=None, description="The directory's person id; none for a system (key, event)."
    )
    capacity: ShortText = Field(description="answer, review, sign or decide_funding.")
    version: int = Field(ge=0, description="The directory's version the check read.")


class Principal(Frozen):
    """The authenticated actor of an answer: who, for which party, proven how."""

    kind: PrincipalKind
    id: ShortText = Field(
        description="The contact's name, the API key's id, or the officer's account or name."
    )
    name: ShortText = Field(description="The person's or system's name, for the record.")
    party: Identifier = Field(description="The party the actor acts for.")
    method: AuthMethod
    request_id: ShortText | None = Field(
        default=None, description="The request that carried the answer, for the access log."
    )
    directory: DirectoryCheck | None = Field(
        default=None,
        description=(
            "Set by the desk from the partner directory at the moment of acting; absent for "
            "an organisation the directory does not hold yet, and in answers recorded before it."
        ),
    )

    def describe(self) -> str:
        """'Drissa GUINDO for menefp, e-mailed link confirmed by code', for milestones."""
        if self.method is AuthMethod.OFFICER_ON_BEHALF:
            return f"entered by officer {self.name} on behalf of {self.party}"
        return f"{self.name} for {self.party}, {METHOD_WORDING[self.method]}"


class PrincipalMismatch(ValueError):
    """The principal does not match the answer's acting party."""


def check_principal_party(principal: Principal, acting_party: str) -> None:
    """An answer's principal acts for the answer's acting party (the office may act for any)."""
    if principal.kind is PrincipalKind.OFFICER:
        return
    if principal.party != acting_party:
        raise PrincipalMismatch(
            f"principal.party: {principal.party!r} is not the acting party {acting_party!r}"
        )
