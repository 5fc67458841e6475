-- Issue 27, item 4: the signatory a signature task is for, kept in the partners' inbox by
-- the workflow's own upserts, so that a contact's task page (which names who signs) is read
-- from the inbox and does not ask the convention's workflow. NULL on rows written before
-- (the page then asks the workflow, as it did) and for every other kind of task.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS signatory text;
