-- The conventions list at 100,000 conventions (issue 27, item 1).
--
-- Keyset pages walk an index in the list's own order and stop after a page: latest changed
-- first is `updated_at DESC, id DESC` (an index scanned backward), by title is
-- `lower(title), id`. A word found in a fifth of the conventions is then checked on the
-- first few hundred rows of that walk instead of gathering, joining and sorting every row
-- that holds it; a rare word still starts from the GIN index (the planner weighs the two
-- with the words' statistics).
CREATE INDEX IF NOT EXISTS conventions_updated_id ON conventions (updated_at, id);
CREATE INDEX IF NOT EXISTS conventions_title_id ON conventions (lower(title), id);
-- By due date: the open tasks walked in due order (each the first of its convention).
CREATE INDEX IF NOT EXISTS office_tasks_open_by_due
    ON office_tasks (due_at, convention_id) WHERE state = 'open';
-- A country filter is a containment the GIN index answers (as the parties' of migration 012).
CREATE INDEX IF NOT EXISTS conventions_countries ON conventions USING gin (countries);
-- (updated_at DESC, id) served the offsets' order; the keyset's is the index above.
DROP INDEX IF EXISTS conventions_updated;

-- The backfill's work list (conventions whose file is not recorded: started by the demo, by
-- a diagnostic's follow-up, before migration 006) was an anti-join of every convention with
-- every file, on every load of the list and the portfolio: 80 ms at 100,000 conventions.
-- The few such conventions are now kept in a table of their own by the two tables' writes.
CREATE TABLE IF NOT EXISTS conventions_without_file (
    convention_id text PRIMARY KEY REFERENCES conventions (id) ON DELETE CASCADE
);

CREATE OR REPLACE FUNCTION pacte_convention_without_file() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM convention_files WHERE convention_id = NEW.id) THEN
        INSERT INTO conventions_without_file (convention_id) VALUES (NEW.id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS convention_without_file ON conventions;
CREATE TRIGGER convention_without_file AFTER INSERT ON conventions
    FOR EACH ROW EXECUTE FUNCTION pacte_convention_without_file();

CREATE OR REPLACE FUNCTION pacte_convention_file_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM conventions_without_file WHERE convention_id = NEW.convention_id;
        RETURN NEW;
    END IF;
    INSERT INTO conventions_without_file (convention_id)
    SELECT c.id FROM conventions AS c WHERE c.id = OLD.convention_id
    ON CONFLICT DO NOTHING;
    RETURN OLD;
END
$$;

DROP TRIGGER IF EXISTS convention_file_kept ON convention_files;
CREATE TRIGGER convention_file_kept AFTER INSERT OR DELETE ON convention_files
    FOR EACH ROW EXECUTE FUNCTION pacte_convention_file_kept();

INSERT INTO conventions_without_file (convention_id)
SELECT c.id FROM conventions AS c
 WHERE NOT EXISTS (SELECT 1 FROM convention_files AS f WHERE f.convention_id = c.id)
ON CONFLICT DO NOTHING;
-- Its statistics from the start (a table never analysed is planned as ten pages' worth).
ANALYZE conventions_without_file;
