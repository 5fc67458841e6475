-- The read model's version (issue 27): a number that grows whenever a row of the portfolio's
-- tables (`conventions`, `office_tasks`, `convention_files`) changes, so the office's page and
-- its charts are computed once per version and served from memory while it stands, instead
-- of scanning every convention at each load.
--
-- A sequence, not a counter row: a counter updated by every projection would serialise the
-- workers' writes on one row lock. The bump is a deferred constraint trigger, so it runs at
-- commit, as close as PostgreSQL allows to the moment the change becomes visible; the page's
-- cache also ages out (application/office/portfolio.py), which bounds the one race left (a
-- reader who reads the version between a writer's bump and its commit).
CREATE SEQUENCE IF NOT EXISTS read_model_version;

CREATE OR REPLACE FUNCTION bump_read_model_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('read_model_version');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS conventions_version ON conventions;
CREATE CONSTRAINT TRIGGER conventions_version
    AFTER INSERT OR UPDATE OR DELETE ON conventions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_read_model_version();

DROP TRIGGER IF EXISTS office_tasks_version ON office_tasks;
CREATE CONSTRAINT TRIGGER office_tasks_version
    AFTER INSERT OR UPDATE OR DELETE ON office_tasks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_read_model_version();

DROP TRIGGER IF EXISTS convention_files_version ON convention_files;
CREATE CONSTRAINT TRIGGER convention_files_version
    AFTER INSERT OR UPDATE OR DELETE ON convention_files
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_read_model_version();
