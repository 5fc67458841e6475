"""The partner desk's use cases, one job a module: links and sessions (`links`), reading tasks
(`tasks`), answers (`answers`), one-time codes (`codes`) and their mail (`code_mail`), API keys
(`keys`), signed CloudEvents (`events`). `PartnerDesk` (`desk`) is the one object the web
routes and the tests hold; its methods call these modules. Each raises the domain errors of
`application/errors.py`; the SQL is the storage floor's (`storage/`)."""

from application.partner.code_mail import CodeMail
from application.partner.codes import PendingCode
from application.partner.desk import PartnerDesk
from application.partner.keys import create_key, list_keys, revoke_key
from application.partner.purge import PURGE_EVERY_SECONDS, purge_expired
from application.partner.task_pages import TaskPage
from application.partner.tasks import TaskView
from storage.api_keys import ApiKey
from storage.contact_sessions import ContactSession
from storage.partner_links import Link
from storage.receipts import Receipt

__all__ = [
    "PURGE_EVERY_SECONDS",
    "ApiKey",
    "CodeMail",
    "ContactSession",
    "Link",
    "PartnerDesk",
    "PendingCode",
    "Receipt",
    "TaskPage",
    "TaskView",
    "create_key",
    "list_keys",
    "purge_expired",
    "revoke_key",
]
