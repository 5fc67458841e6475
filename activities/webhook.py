"""Deliver a notification to a party's webhook: a CloudEvent, signed per Standard Webhooks.

The body is byte-identical on every attempt (its time is the notification's, not the
attempt's) and `webhook-id` is the notification's stable id, so a partner that receives it
twice drops the copy. Only `webhook-timestamp` and the signature change between attempts:
receivers reject timestamps more than five minutes off, so each attempt signs afresh.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery_log import DeliveryLog
from activities.message_templates import answer_command, render
from infra.channel_secrets import channel_key, opened
from infra.database import Database
from infra.outbound import OutboundRefused, check_url, guarded_transport
from infra.portal_settings import link_secret
from infra.secrets import SecretError, webhook_secrets
from infra.settings import DeliverySettings, SettingsError
from rendering.deliveries import ALREADY_DELIVERED, written
from schemas.channels import (
    PERMANENT_FAILURE,
    AttemptStatus,
    Channel,
    DeliveryOutcome,
    DeliveryStatus,
)
from schemas.notifications import Notification, NotificationEvent
from storage import directory

# 408 (timeout) and 429 (slow down) are the 4xx answers that a later attempt may cure.
_RETRYABLE_4XX = frozenset({408, 429})
_USER_AGENT = "Pacte-Webhooks/1"


def cloud_event(notification: Notification, source: str) -> CloudEvent:
    """The notification as a CloudEvents 1.0 event: id, source, type, subject, time, data."""
    task = notification.task
    task_json = task.model_dump(mode="json") if task else None
    message = render(notification)
    data: dict[str, Any] = {
        "convention": {
            "id": notification.convention_id,
            "title": notification.convention_title,
        },
        "party": notification.party,
        "event": notification.event.value,
        "language": notification.language.value,
        "stage": notification.stage or (task.stage if task else None),
        "task": task_json,
        "due_at": task_json["due_at"] if task_json else None,
        # Told by the clock, not the event: a reminder may come before the due date.
        "overdue": bool(task and notification.created_at >= task.due_at)
        or notification.event is NotificationEvent.TASK_ESCALATED,
        "action": (
            {
                "what": task.title,
                "answer_kind": task.kind.value,
                "answer_with": answer_command(notification),
            }
            if task
            else None
        ),
        "message": {"subject": message.subject, "text": message.text},
    }
    return CloudEvent(
        attributes={
            "id": notification.id,
            "source": source,
            "type": notification.event_type,
            "subject": notification.convention_id,
            "time": notification.created_at.astimezone(UTC),
            "datacontenttype": "application/json",
        },
        data=data,
    )


def signed_request(
    notification: Notification, source: str, secrets: list[str], now: datetime
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one attempt: the structured CloudEvent and its signatures."""
    message = to_structured_event(cloud_event(notification, source))
    body = message.body
    text = body.decode("utf-8")
    # One signature per secret: during a rotation the partner verifies with either key.
    signatures = " ".join(Webhook(secret).sign(notification.id, now, text) for secret in secrets)
    headers = {
        **message.headers,
        "webhook-id": notification.id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": signatures,
        "user-agent": _USER_AGENT,
    }
    return headers, body


async def webhook_endpoint(db: Database, notification: Notification) -> str | None:
    """Where the party's webhook deliveries go: the directory's endpoint for its organisation
    when it holds one, else the convention file's `webhook_url` (which the workflow put in
    the notification). Read at each planning and each attempt, so an endpoint changed in the
    directory takes effect for the next attempt without touching a running workflow."""
    held = await directory.webhook_url(db, notification.party)
    return held or notification.webhook_url


def http_reason(code: int) -> str:
    """The delivery log's reason class of an answer that is not a success: its status class,
    never its headers (a `Location` would turn the log into a port scanner's report)."""
    if code == 410:
        return "http_410_gone"  # Standard Webhooks: stop sending
    if code in _RETRYABLE_4XX:
        return f"http_{code}"
    if 300 <= code < 400:
        return "http_3xx_redirect_not_followed"
    return f"http_{code // 100}xx"


def transport_reason(error: httpx.HTTPError) -> str:
    """The reason class of a request that got no answer."""
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect_error"
    if isinstance(error, httpx.RemoteProtocolError):
        return "protocol_error"
    return "transport_error"


def _retry_after(response: httpx.Response) -> timedelta | None:
    raw = response.headers.get("retry-after", "")
    return timedelta(seconds=int(raw)) if raw.isdigit() else None


class WebhookSender:
    """The webhook channel's activity."""

    def __init__(self, pool: asyncpg.Pool, settings: DeliverySettings) -> None:
        self._log = DeliveryLog(pool)
        self._pool = pool
        self._settings = settings

    async def _signing_secrets(self, party: str) -> list[str]:
        """`PACTE_WEBHOOK_SECRET_<PARTY>` (or the secrets file) when set: an override; else
        the directory's live channel secrets (during a rotation's overlap, new and old: the
        partner verifies with either). SecretError when neither has one."""
        try:
            return webhook_secrets(party, self._settings.secrets_file)
        except SecretError as missing:
            try:
                key = channel_key(link_secret(self._settings.secrets_file))
            except (SecretError, SettingsError):
                raise missing from None  # no key to open the directory's secrets with
            found = opened(key, await directory.live_secrets(self._pool, party, datetime.now(UTC)))
            if not found:
                raise SecretError(
                    f"{missing} — or rotate one in the directory: starter.py parties "
                    f"rotate-secret {party}"
                ) from None
            return found

    @activity.defn
    async def deliver_webhook(self, notification: Notification) -> DeliveryOutcome:
        """POST the signed event once; retryable failures raise, permanent ones raise
        non-retryable; each attempt is a row of the delivery log."""
        channel = Channel.WEBHOOK
        url = await webhook_endpoint(self._pool, notification)
        if url is None:
            raise ApplicationError("no webhook_url", type=PERMANENT_FAILURE, non_retryable=True)
        attempt = await self._log.open_attempt(notification.id, channel)
        if attempt is None:
            # An earlier attempt delivered it and died before Temporal heard: do not resend.
            return DeliveryOutcome(
                notification_id=notification.id,
                channel=channel,
                status=DeliveryStatus.DELIVERED,
                attempt=0,
                detail=written(ALREADY_DELIVERED),
                detail_facts=ALREADY_DELIVERED,
            )
        context = {"notification": notification.id, "party": notification.party, "attempt": attempt}
        try:
            secrets = await self._signing_secrets(notification.party)
        except SecretError as error:
            await self._log.fail_attempt(
                notification, Channel.WEBHOOK, attempt, None, str(error), permanent=True
            )
        # The organisation's allow-list, as the directory has it at this attempt.
        allowed = await directory.webhook_hosts(self._pool, notification.party)
        policy = replace(self._settings.outbound, allowed_hosts=allowed)
        try:
            check_url(url, policy)  # scheme and credentials: before anything is signed or sent
        except OutboundRefused as refused:
            await self._log.fail_attempt(
                notification, Channel.WEBHOOK, attempt, None, refused.reason, permanent=True
            )
        headers, body = signed_request(
            notification, self._settings.event_source, secrets, datetime.now(UTC)
        )
        # Leave the attempt a little time to record its outcome before Temporal times it out.
        timeout = max(1.0, self._settings.attempt_timeout_seconds * 0.8)
        try:
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, transport=guarded_transport(policy)
            ) as client:
                response = await client.post(url, content=body, headers=headers)
        except OutboundRefused as refused:
            # The address, checked where the connection is made: nothing was sent.
            await self._log.fail_attempt(
                notification, Channel.WEBHOOK, attempt, None, refused.reason, permanent=True
            )
        except httpx.HTTPError as error:
            # The class only: an error's text may quote the URL, and so its credentials.
            await self._log.fail_attempt(
                notification,
                Channel.WEBHOOK,
                attempt,
                None,
                transport_reason(error),
                permanent=False,
            )
        code = response.status_code
        if 200 <= code < 300:
            await self._log.close_attempt(
                notification.id, channel, attempt, AttemptStatus.DELIVERED, response_code=code
            )
            activity.logger.info("webhook delivered", extra={**context, "status": code})
            return DeliveryOutcome(
                notification_id=notification.id,
                channel=channel,
                status=DeliveryStatus.DELIVERED,
                attempt=attempt,
                response_code=code,
            )
        reason = http_reason(code)
        permanent = code < 500 and code not in _RETRYABLE_4XX
        delay = _retry_after(response)
        if delay is not None:
            delay = min(delay, timedelta(seconds=self._settings.maximum_retry_seconds))
        await self._log.fail_attempt(
            notification, Channel.WEBHOOK, attempt, code, reason, permanent=permanent, delay=delay
        )
