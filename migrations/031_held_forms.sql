-- What an officer typed when their session had timed out (issue 26, "nothing typed is
-- lost"): the form's fields, held for the account whose session it was until it signs in
-- again and comes back to the page (a random token in the `next` URL names the row; only
-- its SHA-256 is stored). The fields are sealed (AES-256-GCM, the account's e-mail and the
-- token's hash as associated data): a row is readable by that account only, and it expires.
CREATE TABLE IF NOT EXISTS office_held_forms (
    token_hash  bytea       PRIMARY KEY,
    email       text        NOT NULL REFERENCES office_users (email) ON DELETE CASCADE,
    path        text        NOT NULL,
    sealed      bytea       NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS office_held_forms_expiry ON office_held_forms (expires_at);
