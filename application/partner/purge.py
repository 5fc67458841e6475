"""The portal's hourly purge of what no one can use any more (the rows: `storage/purge.py`)."""

from __future__ import annotations

from storage.purge import purge_expired

PURGE_EVERY_SECONDS = 3600.0

__all__ = ["PURGE_EVERY_SECONDS", "purge_expired"]
