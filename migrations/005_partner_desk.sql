-- The partner desk (portal.py): who may answer what, proven how. Every secret is stored only
-- as its SHA-256 (tokens and keys carry 256 random bits; codes an HMAC under the server's
-- secret). The portal's replicas keep nothing in memory: everything they share is here.

-- A contact's personal link, minted by notify_party for each contact of each notification;
-- (notification, contact) is unique, so a retried activity finds its link instead of a second.
CREATE TABLE IF NOT EXISTS partner_links (
    token_hash      bytea       PRIMARY KEY,
    notification_id text        NOT NULL,
    contact_name    text        NOT NULL,
    contact_email   text,
    language        text        NOT NULL,
    party           text        NOT NULL,
    convention_id   text        NOT NULL,
    task_id         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    UNIQUE (notification_id, contact_name)
);
CREATE INDEX IF NOT EXISTS partner_links_by_task ON partner_links (convention_id, task_id);

-- A browser session opened by a link: its id is a random cookie, stored hashed.
CREATE TABLE IF NOT EXISTS partner_sessions (
    id_hash         bytea       PRIMARY KEY,
    link_hash       bytea       NOT NULL REFERENCES partner_links (token_hash),
    contact_name    text        NOT NULL,
    contact_email   text,
    party           text        NOT NULL,
    language        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz
);

-- A one-time code e-mailed to confirm a commitment (a signature, a funding decision); the
-- answer waits here for it. Ten minutes, five tries.
CREATE TABLE IF NOT EXISTS partner_codes (
    id              text        PRIMARY KEY,
    session_hash    bytea       NOT NULL REFERENCES partner_sessions (id_hash),
    convention_id   text        NOT NULL,
    task_id         text        NOT NULL,
    code_hash       bytea       NOT NULL,
    answer          jsonb       NOT NULL,
    tries           integer     NOT NULL DEFAULT 0 CHECK (tries >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

-- A partner system's API key, per party; printed once at creation.
CREATE TABLE IF NOT EXISTS partner_api_keys (
    id              text        PRIMARY KEY,
    party           text        NOT NULL,
    name            text        NOT NULL,
    key_hash        bytea       NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);

-- Every answer the desk got accepted: the receipt a link shows afterwards.
CREATE TABLE IF NOT EXISTS partner_receipts (
    convention_id   text        NOT NULL,
    task_id         text        NOT NULL,
    party           text        NOT NULL,
    principal       jsonb       NOT NULL,
    answer          jsonb       NOT NULL,
    accepted_at     timestamptz NOT NULL,
    PRIMARY KEY (convention_id, task_id)
);

-- API retries: the same Idempotency-Key with the same body gets the same receipt.
CREATE TABLE IF NOT EXISTS partner_idempotency (
    party           text        NOT NULL,
    key             text        NOT NULL,
    body_hash       bytea       NOT NULL,
    convention_id   text        NOT NULL,
    task_id         text        NOT NULL,
    receipt         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (party, key)
);

-- Signed CloudEvents from partners, deduplicated on source + id.
CREATE TABLE IF NOT EXISTS partner_events (
    source          text        NOT NULL,
    id              text        NOT NULL,
    party           text        NOT NULL,
    receipt         jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);

-- Failed sign-ins, codes and keys, counted per bucket (a token's, a key's or an address's
-- hash) and fixed window, shared by every replica.
CREATE TABLE IF NOT EXISTS partner_failures (
    bucket          text        NOT NULL,
    window_start    timestamptz NOT NULL,
    failures        integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, window_start)
);
