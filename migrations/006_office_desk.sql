-- The office desk (issue 13): officers', auditors' and admins' accounts, their sessions, the
-- access log, and the portfolio's read model kept current from the milestones.

CREATE TABLE IF NOT EXISTS office_users (
    email             text        PRIMARY KEY,
    name              text        NOT NULL,
    role              text        NOT NULL CHECK (role IN ('officer', 'auditor', 'admin')),
    password_hash     text        NOT NULL,                 -- argon2id, PHC string
    totp_secret       text,                                  -- base32; set at enrolment
    totp_enrolled_at  timestamptz,
    totp_last_step    bigint,                                -- a code's time-step is used once
    created_at        timestamptz NOT NULL DEFAULT now(),
    disabled_at       timestamptz
);

-- Recovery codes (80 random bits each), stored as SHA-256, each usable once.
CREATE TABLE IF NOT EXISTS office_recovery_codes (
    email      text        NOT NULL REFERENCES office_users (email),
    code_hash  bytea       NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (email, code_hash)
);

-- A signed-in browser: its id is a random cookie, stored hashed. `step` says how far the
-- sign-in went: 'second_factor' (password given, code owed), 'enrol' (code owed, never set
-- up), 'signed_in'.
CREATE TABLE IF NOT EXISTS office_sessions (
    id_hash       bytea       PRIMARY KEY,
    email         text        NOT NULL REFERENCES office_users (email),
    step          text        NOT NULL CHECK (step IN ('second_factor', 'enrol', 'signed_in')),
    language      text        NOT NULL DEFAULT 'fr',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

-- Who did what, when, from where: sign-ins (and failures), officers' actions, audit
-- downloads. Never a password, a code or a token.
CREATE TABLE IF NOT EXISTS office_access_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    email       text,
    action      text        NOT NULL,
    target      text,
    outcome     text        NOT NULL,
    address     text
);
CREATE INDEX IF NOT EXISTS office_access_log_by_time ON office_access_log (at DESC);

-- The validated convention file, recorded once by start_convention: the static facts
-- (title, countries, sector) that no milestone carries.
CREATE TABLE IF NOT EXISTS convention_files (
    convention_id  text        PRIMARY KEY,
    document       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- The portfolio's read model: one row per convention, projected from its milestones
-- (activities/read_model.py) in the transaction that writes each milestone.
CREATE TABLE IF NOT EXISTS conventions (
    id              text        PRIMARY KEY,
    title           text,
    kind            text,
    parent          text,
    stage           text,
    state           text        NOT NULL DEFAULT 'active',
    countries       text[]      NOT NULL DEFAULT '{}',
    sector          text,
    funder          text,
    currency        text,
    requested       numeric,
    granted         numeric,
    granted_currency text,
    decision        text,
    targets         jsonb       NOT NULL DEFAULT '{}',
    actuals         jsonb       NOT NULL DEFAULT '{}',
    spent           numeric,
    spent_currency  text,
    budget          numeric,
    budget_currency text,
    cohorts         jsonb       NOT NULL DEFAULT '{}',      -- id -> {enrolled, certified, state}
    last_seq        integer     NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every task as the milestones tell it: open, answered, cancelled; overdue and escalated.
CREATE TABLE IF NOT EXISTS office_tasks (
    convention_id  text        NOT NULL,
    task_id        text        NOT NULL,
    kind           text,
    party          text,
    stage          text,
    due_at         timestamptz,
    state          text        NOT NULL DEFAULT 'open',
    overdue        boolean     NOT NULL DEFAULT false,
    escalated      boolean     NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, task_id)
);
CREATE INDEX IF NOT EXISTS office_tasks_open ON office_tasks (state, due_at);
