-- Delivery of notifications to partners.
-- One row per notification and channel: a notification is delivered (or failed) once on a
-- channel, however many attempts it took, so nothing counts it twice.
CREATE TABLE IF NOT EXISTS deliveries (
    notification_id     text        NOT NULL REFERENCES notifications (id),
    channel             text        NOT NULL CHECK (channel IN ('webhook', 'email')),
    party               text        NOT NULL,
    target              text,
    status              text        NOT NULL CHECK (status IN ('pending', 'sending',
                                        'retrying', 'delivered', 'failed', 'no_channel')),
    attempts            integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_response_code  integer,
    last_detail         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    delivered_at        timestamptz,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries (status, updated_at);

-- Every attempt, numbered per notification and channel across retries, workers and the
-- officer's "retry": what was tried, when, and what the other side answered. An attempt left
-- 'sending' is one whose worker died before it knew the outcome.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    notification_id     text        NOT NULL,
    channel             text        NOT NULL,
    attempt             integer     NOT NULL CHECK (attempt >= 1),
    party               text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('sending', 'delivered',
                                        'transient_failure', 'permanent_failure')),
    response_code       integer,
    detail              text,
    activity_attempt    integer     NOT NULL,
    workflow_id         text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    PRIMARY KEY (notification_id, channel, attempt),
    FOREIGN KEY (notification_id, channel) REFERENCES deliveries (notification_id, channel)
);

-- The partners' inbox: every task assigned, by (convention, task). Whether it is still owed
-- is read with the milestones (an answer, the convention's end) and this row's status.
CREATE TABLE IF NOT EXISTS tasks (
    convention_id   text        NOT NULL,
    task_id         text        NOT NULL,
    stage           text        NOT NULL,
    kind            text        NOT NULL,
    assignee        text        NOT NULL,
    title           text        NOT NULL,
    assigned_at     timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, task_id)
);
CREATE INDEX IF NOT EXISTS tasks_owed_by_party ON tasks (assignee, due_at) WHERE status = 'open';
