"""Notifications carry each contact's link (minted once, stored hashed) and the API path;
a webhook carries no personal link; the officer's escalation points at the convention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.message_templates import render
from activities.notify import Notifier
from activities.webhook import cloud_event
from infra.portal_settings import load_portal_settings, token_hash
from infra.settings import DeliverySettings
from schemas.convention import Contact
from schemas.notifications import Notification, NotificationEvent
from schemas.tasks import Task, TaskKind
from schemas.values import Language
from tests.partner_stack import COLLEAGUE, FUNDER

DECISION = "funding_request.decision.r1"


def notification(event: NotificationEvent = NotificationEvent.TASK_ASSIGNED) -> Notification:
    convention_id = f"bamako-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    task = Task(
        id=DECISION,
        convention_id=convention_id,
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title="Décider du financement",
        assigned_at=now,
        due_at=now + timedelta(days=90),
    )
    officer = event is NotificationEvent.TASK_ESCALATED
    return Notification(
        id=f"{convention_id}/{DECISION}/{event.value}" + ("/officer" if officer else ""),
        convention_id=convention_id,
        event=event,
        party="ofppt" if officer else "bid",
        recipients=[Contact(name="Chargé", language=Language.FRENCH)]
        if officer
        else [Contact.model_validate(FUNDER), Contact.model_validate(COLLEAGUE)],
        language=Language.FRENCH,
        subject=f"[{convention_id}] Décider du financement",
        task=task,
        created_at=now,
        convention_title="Coopération OFPPT – MENEFP (Mali)",
    )


async def test_a_retried_notification_mints_each_contacts_link_once_and_the_mail_carries_it(
    db_pool: asyncpg.Pool,
) -> None:
    notifier = Notifier(db_pool, DeliverySettings())
    sent = notification()
    activities = ActivityEnvironment()
    assert await activities.run(notifier.notify_party, sent) is True
    assert await activities.run(notifier.notify_party, sent) is False  # the retry
    rows = await db_pool.fetch(
        "SELECT * FROM partner_links WHERE notification_id = $1 ORDER BY contact_name", sent.id
    )
    assert sorted(r["contact_name"] for r in rows) == sorted([FUNDER["name"], COLLEAGUE["name"]])
    assert all(r["expires_at"] == sent.task.due_at + timedelta(days=30) for r in rows)  # type: ignore[union-attr]
    mail = render(sent, with_links=True)
    tokens = [line.rsplit("/t/", 1)[1].strip() for line in mail.text.splitlines() if "/t/" in line]
    assert {token_hash(t) for t in tokens} == {r["token_hash"] for r in rows}
    base = load_portal_settings().public_url
    assert all(f'<a href="{base}/t/{t}">' in mail.html for t in tokens)
    assert f"/api/v1/tasks/{sent.convention_id}/{DECISION}/answer" in mail.text
    assert "starter.py act" not in mail.text
    # The same mail again (a retried delivery) carries the same links.
    assert render(sent, with_links=True).text == mail.text
    # What goes to the party's systems names the API, never a person's link.
    event_text = str(cloud_event(sent, "/pacte").get_data())
    assert "/t/" not in event_text and "/api/v1/tasks/" in event_text


async def test_the_officers_escalation_has_no_partner_link_and_points_at_the_convention(
    db_pool: asyncpg.Pool,
) -> None:
    notifier = Notifier(db_pool, DeliverySettings())
    escalation = notification(NotificationEvent.TASK_ESCALATED)
    await ActivityEnvironment().run(notifier.notify_party, escalation)
    count = await db_pool.fetchval(
        "SELECT count(*) FROM partner_links WHERE notification_id = $1", escalation.id
    )
    assert count == 0
    text = render(escalation, with_links=True).text
    assert "/t/" not in text
    assert f"python starter.py status {escalation.convention_id}" in text
