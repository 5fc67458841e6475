"""Shared by the directory's tests: fresh party ids, editors, files naming a party."""

from __future__ import annotations

import uuid
from typing import Any

from application.directory.editors import Editor, EditorRole
from schemas.convention import Convention
from tests.test_delivery_webhook import funding_request_to

ADMIN = Editor("amina.admin@ofppt.example", EditorRole.ADMIN)
OFFICER = Editor("loubna.officer@ofppt.example", EditorRole.OFFICER)


def fresh_id(prefix: str = "bid") -> str:
    """A party id no other test uses (the suite shares one database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def funding_file(party_id: str, contacts: list[dict[str, Any]], **party: Any) -> Convention:
    """Bamako's funding request (a fresh convention id) to `party_id` instead of bid."""
    data = funding_request_to(None, contacts).model_dump(mode="json")
    for declared in data["parties"]:
        if declared["id"] == "bid":
            declared.update(id=party_id, **party)
    for stage in data["stages"]:
        if stage.get("funder") == "bid":
            stage["funder"] = party_id
    return Convention.model_validate(data)
