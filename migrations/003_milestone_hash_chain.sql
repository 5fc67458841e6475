-- The milestones' hash chain: each row carries the hash of its predecessor (same convention,
-- seq - 1; a fixed genesis value for seq 1) and its own hash,
--   hash = sha256(prev_hash || canonical JSON of the milestone's fields),
-- computed by the persist_milestone activity. An edited, deleted or inserted row breaks the
-- chain, and `audit.py verify` names it. Rows written before this migration keep NULL in
-- both columns: verify reports them as unchained rather than guessing their hash.
ALTER TABLE milestones
    ADD COLUMN IF NOT EXISTS prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN IF NOT EXISTS hash      text CHECK (hash ~ '^[0-9a-f]{64}$');

COMMENT ON COLUMN milestones.prev_hash IS
    'hash of milestone seq - 1 of the same convention; 64 zeros for seq 1';
COMMENT ON COLUMN milestones.hash IS
    'sha256(prev_hash || canonical JSON of convention_id, seq, kind, stage, task_id, party, '
    'actor, occurred_at, summary, details), lowercase hex';
