-- The audit record: one row per milestone, keyed by (convention_id, seq) so that a retried
-- or replayed activity can never write a milestone twice.
CREATE TABLE IF NOT EXISTS milestones (
    convention_id   text        NOT NULL,
    seq             integer     NOT NULL CHECK (seq >= 1),
    kind            text        NOT NULL,
    stage           text,
    task_id         text,
    party           text,
    actor           text,
    occurred_at     timestamptz NOT NULL,
    summary         text        NOT NULL,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    workflow_id     text        NOT NULL,
    run_id          text        NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, seq)
);
CREATE INDEX IF NOT EXISTS milestones_by_party ON milestones (party, occurred_at);

-- Notifications owed to parties; the id is stable across retries and replays.
CREATE TABLE IF NOT EXISTS notifications (
    id              text        PRIMARY KEY,
    convention_id   text        NOT NULL,
    event           text        NOT NULL,
    party           text        NOT NULL,
    language        text        NOT NULL,
    subject         text        NOT NULL,
    recipients      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    task            jsonb,
    created_at      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notifications_by_party ON notifications (party, created_at);
