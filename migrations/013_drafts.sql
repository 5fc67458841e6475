-- The convention editor's drafts (issue 26): a convention being written in the office desk's
-- forms, kept server-side per officer, versioned (a save names the version it was made
-- from; a stale one is refused, nothing overwritten), shareable with other officers.
-- `document` is `json`, not `jsonb`: it keeps the keys in the order the officer wrote them,
-- so an export reads like the file that was imported.
CREATE TABLE IF NOT EXISTS office_drafts (
    id text PRIMARY KEY,
    owner text NOT NULL,
    document json NOT NULL,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    started_as text
);
CREATE INDEX IF NOT EXISTS office_drafts_owner ON office_drafts (owner, updated_at DESC);

CREATE TABLE IF NOT EXISTS office_draft_shares (
    draft_id text NOT NULL REFERENCES office_drafts (id) ON DELETE CASCADE,
    email text NOT NULL,
    shared_by text NOT NULL,
    shared_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (draft_id, email)
);
CREATE INDEX IF NOT EXISTS office_draft_shares_email ON office_draft_shares (email);
