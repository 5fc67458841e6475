-- The office desk's directory pages (issue 23, continued): a convention file whose start was
-- refused because it would change an existing organisation's people, kept as it was sent so
-- that nothing typed is lost while an admin reads the differences and accepts them (or not).
CREATE TABLE IF NOT EXISTS directory_proposals (
    id             text        PRIMARY KEY,
    convention_id  text        NOT NULL,
    source         text        NOT NULL CHECK (length(source) <= 600000),
    filename       text        NOT NULL,
    draft_id       text,
    submitted_by   text        NOT NULL,
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    accepted_by    text,
    accepted_at    timestamptz
);
CREATE INDEX IF NOT EXISTS directory_proposals_by_convention
    ON directory_proposals (convention_id, submitted_at DESC);

-- "Which conventions is this organisation a party to" (its page) and "is this officer
-- responsible for one of them" (the keepers' rule) read the stored files' parties by
-- containment: an index of exactly that, rather than a scan of every file per page.
CREATE INDEX IF NOT EXISTS convention_files_parties
    ON convention_files USING gin ((document -> 'parties') jsonb_path_ops);
