-- Issue 27, item 3: the contact a task is given to (an officer's reassignment), kept in the
-- partners' inbox by the workflow's own upserts, so that a contact's task list is one read
-- of PostgreSQL and never asks each convention's workflow. NULL: any contact of the party.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS contact text;

-- Rows written before this column: the contact of the last reassignment the milestones
-- recorded for the task (the workflow's next upsert of the task writes it too).
UPDATE tasks AS t
   SET contact = last.contact
  FROM (SELECT DISTINCT ON (convention_id, task_id)
               convention_id, task_id, details ->> 'to' AS contact
          FROM milestones
         WHERE kind = 'task_reassigned' AND task_id IS NOT NULL
         ORDER BY convention_id, task_id, seq DESC) AS last
 WHERE last.convention_id = t.convention_id
   AND last.task_id = t.task_id
   AND t.contact IS NULL;

-- What the inbox's reads ask of the milestones for each open row (answered? its convention
-- ended?) found by index, not by reading every milestone: without these, a party's list of
-- 1,000 tasks read some 40,000 milestones twice.
CREATE INDEX IF NOT EXISTS milestones_task_answered
    ON milestones (convention_id, task_id) WHERE kind = 'task_answered';
CREATE INDEX IF NOT EXISTS milestones_convention_ended
    ON milestones (convention_id) WHERE kind IN ('convention_completed', 'convention_failed');
