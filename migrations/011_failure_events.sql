-- Sliding-window failure limiter (issue 28, item 2): one row per bucket holding the times of
-- its attempts in the last window. An attempt locks the bucket rows (in bucket order, so two
-- attempts sharing buckets never deadlock), prunes what left the window, decides and appends
-- in one transaction: N parallel tries are counted N and at most the budget is evaluated.
-- `partner_failures` (fixed clock slots) is no longer written.
CREATE TABLE IF NOT EXISTS failure_buckets (
    bucket      text          PRIMARY KEY,
    attempts    timestamptz[] NOT NULL DEFAULT '{}',
    last_at     timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS failure_buckets_last_at ON failure_buckets (last_at);
