"""Tasks reach partners by e-mail through a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from devkit.polling import eventually
from tests.conftest import SmtpServer, forget_organisations
from tests.test_delivery_webhook import (
    DECISION,
    fast_delivery,
    funding_request_to,
    open_fix_tasks,
    running_worker,
    stop,
)

FUNDER_AR = "مدير التمويل – البنك الإسلامي للتنمية"


def text_of(message: EmailMessage, subtype: str) -> str:
    """A body part decoded from its MIME transfer encoding and charset."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def test_an_arabic_speaking_funder_gets_a_right_to_left_mail_with_its_text_intact(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    address = "financement.ar@isdb.example"
    convention = funding_request_to(None, [{"name": FUNDER_AR, "email": address, "language": "ar"}])
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    async with running_worker(dev_env, db_pool, delivery) as task_queue:
        await forget_organisations(db_pool, (party.id for party in convention.parties))
        await start_convention(dev_env.client, convention, task_queue)
        row = await eventually(
            lambda: db_pool.fetchrow(
                "SELECT * FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
                notification_id,
            ),
            lambda row: row is not None and row["status"] == "delivered",
        )
    await stop(dev_env.client, convention.id)

    # The funder is also told, in Arabic, that the convention entered its funding stage.
    stage_subject = f"[{convention.id}] انتقلت الاتفاقية إلى مرحلة طلب التمويل"
    mails = smtp_server.catcher.to(address)
    assert sorted(m.message["Subject"] == stage_subject for m in mails) == [False, True]
    [mail] = [m for m in mails if m.message["Subject"] != stage_subject]
    message = mail.message
    # The task's title in Arabic, from its facts; the amount as Morocco writes it, isolated.
    assert message["Subject"] == (
        f"[{convention.id}] مهمة جديدة: البت في طلب التمويل بمبلغ "
        "\u206840.000.000\u00a0IsDB-ID\u2069"
    )
    # Decoded per RFC 2047 (the legacy decoder: the modern header parser wrongly inserts a
    # space between adjacent encoded words of a display name, a CPython quirk, not ours).
    raw_to = message_from_bytes(mail.raw)["To"]
    assert str(make_header(decode_header(raw_to))) == f"{FUNDER_AR} <{address}>"
    assert message["Content-Language"] == "ar"
    assert message["Message-ID"].endswith("@localhost>")
    assert message.get_content_type() == "multipart/alternative"
    plain, html = text_of(message, "plain"), text_of(message, "html")
    for body in (plain, html):
        assert "تنتظر الاتفاقية" in body
        assert "Coopération OFPPT – MENEFP (Mali)" in body
        assert "funding_request.decision.r1" in body
    assert '<html lang="ar" dir="rtl">' in html
    assert row["attempts"] == 1 and row["target"] == address
    webhook = await db_pool.fetchval(
        "SELECT status FROM deliveries WHERE notification_id = $1 AND channel = 'webhook'",
        notification_id,
    )
    assert webhook == "no_channel"


async def test_a_refused_mailbox_is_not_retried_and_the_officer_gets_a_task(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    convention = funding_request_to(
        None, [{"name": "Bureau de Jeddah", "email": "nobody@refused.example", "language": "fr"}]
    )
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    async with running_worker(dev_env, db_pool, delivery) as task_queue:
        await forget_organisations(db_pool, (party.id for party in convention.parties))
        await start_convention(dev_env.client, convention, task_queue)
        [fix] = await eventually(lambda: open_fix_tasks(dev_env.client, convention.id), bool)
    await stop(dev_env.client, convention.id)
    assert fix.id == f"delivery.fix.{DECISION}.task.assigned.email.r1"
    assert "550" in fix.title
    row = await db_pool.fetchrow(
        "SELECT * FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
        notification_id,
    )
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("failed", 1, 550)
    assert smtp_server.catcher.to("nobody@refused.example") == []


async def test_without_an_smtp_server_a_mail_is_recorded_as_no_channel_and_nothing_fails(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    convention = funding_request_to(
        None, [{"name": "Bureau de Jeddah", "email": "jeddah@isdb.example", "language": "fr"}]
    )
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
        await forget_organisations(db_pool, (party.id for party in convention.parties))
        await start_convention(dev_env.client, convention, task_queue)
        rows = await eventually(
            lambda: db_pool.fetch(
                "SELECT channel, status, last_detail FROM deliveries"
                " WHERE notification_id = $1 ORDER BY channel",
                notification_id,
            ),
            lambda rows: len(rows) == 2,
        )
        assert await open_fix_tasks(dev_env.client, convention.id) == []
    await stop(dev_env.client, convention.id)
    assert [(r["channel"], r["status"]) for r in rows] == [
        ("email", "no_channel"),
        ("webhook", "no_channel"),
    ]
    assert "PACTE_SMTP_HOST" in rows[0]["last_detail"]
