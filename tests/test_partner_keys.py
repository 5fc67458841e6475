"""Officers manage partners' API keys with `starter.py keys`: printed once, listed without
their secret, revoked at once — and the API agrees at every step."""

from __future__ import annotations

import asyncpg
from temporalio.testing import WorkflowEnvironment

from tests.cli_runner import cli_env, run_cli
from tests.partner_stack import bearer, make_desk, portal_client


async def test_keys_create_prints_the_secret_once_list_hides_it_revoke_stops_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    created = await run_cli("keys", "create", "bid", "--name", "Jeddah grants", env=env)
    assert created.code == 0, created
    secret = created.stdout.strip().splitlines()[-1]
    key_id = created.stdout.split()[1]
    assert secret.startswith(f"pk_{key_id}_")
    desk = make_desk(dev_env.client, db_pool)
    async with portal_client(desk) as http:
        assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 200
        listed = await run_cli("keys", "list", "bid", env=env)
        assert listed.code == 0 and key_id in listed.stdout and "Jeddah grants" in listed.stdout
        assert secret not in listed.stdout and "active" in listed.stdout
        revoked = await run_cli("keys", "revoke", key_id, env=env)
        assert revoked.code == 0, revoked
        assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 401
    after = await run_cli("keys", "list", "bid", env=env)
    assert f"{key_id}  bid" in after.stdout and "revoked" in after.stdout
    unknown = await run_cli("keys", "revoke", "nosuchkey", env=env)
    assert unknown.code == 1 and "key_id" in unknown.stderr
    bad_party = await run_cli("keys", "create", "not a party!", env=env)
    assert bad_party.code == 1
