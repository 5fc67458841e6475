-- The archive of closed workflow runs' histories: Temporal deletes a closed run's history once
-- the namespace's retention has passed; auditors come back years later.
--
-- One row per run, written once (a second archiving of the same run changes nothing):
-- the history as `temporal workflow show --output json` writes it (what `audit.py export`
-- writes), gzip-compressed, with the sha256 of the uncompressed bytes. Rows are chained per
-- convention like the milestones:
--   hash = sha256(prev_hash || canonical JSON of convention_id, seq, workflow_id, run_id,
--                 first_run_id, closed_as, started_at, closed_at, events, size_bytes,
--                 history_sha256, archived_at)
-- so an edited, deleted or inserted row breaks the chain and `audit.py verify` names it.
-- The chain covers the uncompressed content's hash, not the compressed bytes: an archive
-- recompressed (or moved to a directory) keeps its chain.
CREATE TABLE IF NOT EXISTS history_archive (
    convention_id   text        NOT NULL,
    seq             integer     NOT NULL CHECK (seq >= 1),
    workflow_id     text        NOT NULL,
    run_id          text        NOT NULL,
    first_run_id    text        NOT NULL,
    closed_as       text        NOT NULL CHECK (closed_as IN ('completed', 'failed',
                                    'timed_out', 'canceled', 'terminated', 'continued_as_new')),
    started_at      timestamptz NOT NULL,
    closed_at       timestamptz NOT NULL,
    events          integer     NOT NULL CHECK (events >= 2),
    size_bytes      integer     NOT NULL CHECK (size_bytes > 0),
    history_sha256  text        NOT NULL CHECK (history_sha256 ~ '^[0-9a-f]{64}$'),
    history_gzip    bytea       NOT NULL,
    archived_at     timestamptz NOT NULL,
    prev_hash       text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash            text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (convention_id, seq),
    UNIQUE (workflow_id, run_id)
);
CREATE INDEX IF NOT EXISTS history_archive_by_run ON history_archive (run_id);

COMMENT ON COLUMN history_archive.history_gzip IS
    'gzip of the run''s history JSON, as `temporal workflow show --output json` writes it';
COMMENT ON COLUMN history_archive.history_sha256 IS 'sha256 of the uncompressed JSON bytes';
COMMENT ON COLUMN history_archive.hash IS
    'sha256(prev_hash || canonical JSON of the entry''s fields), lowercase hex';

-- Closed runs that could not be archived (yet): every sweep tries them again, and officers
-- (`starter.py status`) and auditors (`audit.py verify`, `audit.py archive`) see them until
-- one succeeds. A closed workflow cannot carry a task or a milestone any more, so the record
-- of the failure lives here.
CREATE TABLE IF NOT EXISTS archive_failures (
    workflow_id     text        NOT NULL,
    run_id          text        NOT NULL,
    convention_id   text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL,
    resolved_at     timestamptz,
    PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX IF NOT EXISTS archive_failures_open ON archive_failures (convention_id)
    WHERE resolved_at IS NULL;
