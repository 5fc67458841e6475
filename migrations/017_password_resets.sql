-- Office passwords (issue 28, item 4): an admin's reset link, mailed to the account. The
-- link's token (256 random bits) is stored as SHA-256 only; it works once, within its hour,
-- and a newer link for the account voids the older ones.
CREATE TABLE IF NOT EXISTS office_password_resets (
    token_hash  bytea       PRIMARY KEY,
    email       text        NOT NULL REFERENCES office_users (email),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS office_password_resets_by_email ON office_password_resets (email);
