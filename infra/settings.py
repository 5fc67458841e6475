"""One settings object, read from the environment once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".pacte"
DEFAULT_TASK_QUEUE = "pacte-conventions"
EMBEDDED_TEMPORAL_ADDRESS = "localhost:7233"
EMBEDDED_TEMPORAL_UI = "http://localhost:8233"


@dataclass(frozen=True)
class Settings:
    """Where Pacte finds Temporal and PostgreSQL; unset means the embedded stack."""

    temporal_address: str | None
    temporal_namespace: str
    task_queue: str
    database_url: str | None
    state_dir: Path

    @property
    def uses_embedded_temporal(self) -> bool:
        """No Temporal address configured: the embedded dev server on localhost."""
        return self.temporal_address is None

    @property
    def uses_embedded_postgres(self) -> bool:
        """No DATABASE_URL: the embedded PostgreSQL under the state directory."""
        return self.database_url is None


def load_settings() -> Settings:
    """Read the environment. TEMPORAL_* variables follow the Temporal CLI's own names."""
    return Settings(
        temporal_address=os.environ.get("TEMPORAL_ADDRESS") or None,
        temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE") or "default",
        task_queue=os.environ.get("PACTE_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
        database_url=os.environ.get("DATABASE_URL") or None,
        state_dir=Path(os.environ.get("PACTE_STATE_DIR") or DEFAULT_STATE_DIR),
    )
