-- The stages a convention has completed, read by `status` and the office's convention page
-- beside its latest milestones: a partial index keeps that read as fast at 5,000
-- milestones as at 50 (a few rows per convention, not a scan of its whole record).
CREATE INDEX IF NOT EXISTS milestones_stage_completed
    ON milestones (convention_id, stage) WHERE kind = 'stage_completed';
