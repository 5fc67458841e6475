-- Typed task facts (issue 24): what a task's title states (version, signatory, place and
-- dates, amount, report number, round…) as JSON, so the partners' inbox says the title in
-- each reader's language. NULL for tasks assigned before the workflows wrote them.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS facts jsonb;
