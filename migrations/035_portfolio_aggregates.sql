-- The portfolio's aggregates (issue 27): the office's page read its figures from seven
-- queries over every convention (3.4 s at 100,000 conventions). Its figures are now kept by
-- the read model's own writes: row triggers on `conventions` and `office_tasks` write each
-- row's change, in the writer's own transaction, as delta rows beside small counter tables;
-- the page reads counters and deltas summed, a few hundred rows (storage/portfolio.py), and
-- what a rolled-back write added is rolled back with it.
--
-- Deltas, not counters updated in place: the read model is written inside the ledger
-- writer's transaction, a batch of milestones of several conventions at a time, held until
-- its commit. Counter rows updated there would serialise every worker's writes on the few
-- rows a stage change moves, and two batches moving keys in crossing orders would deadlock
-- (as migration 014 kept the version a sequence). A delta row is an insert: no lock, no
-- wait, no lost count. `portfolio_fold()` moves the deltas into the counters (each delta
-- deleted and added in one statement: a delta is folded once, even by two folds at a time,
-- the second skipping what the first deleted); the page folds before it reads, so the
-- deltas stay few. Each trigger nets a row's old and new contributions per key and writes
-- only the keys whose count moved: a write that changes no figure (most milestones: dates,
-- actuals) writes no delta. Zero counts stay as rows and are skipped when read.

CREATE TABLE IF NOT EXISTS portfolio_stage_counts (
    stage       text   NOT NULL,
    kind        text   NOT NULL,
    state       text   NOT NULL,
    conventions bigint NOT NULL,
    PRIMARY KEY (stage, kind, state)
);
CREATE TABLE IF NOT EXISTS portfolio_stage_deltas (
    stage text, kind text, state text, conventions bigint NOT NULL
);

-- A country of `countries` may in principle be NULL: kept as its own key, as the query did.
CREATE TABLE IF NOT EXISTS portfolio_country_counts (
    country     text,
    sector      text   NOT NULL,
    conventions bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (country, sector)
);
CREATE TABLE IF NOT EXISTS portfolio_country_deltas (
    country text, sector text, conventions bigint NOT NULL
);

-- Sums per funder, currency, measure and the amounts' scale: the full query's sum of
-- `numeric` shows the largest scale among the amounts it sums (1.50 + 2 = 3.50); kept per
-- scale, the page sums only the scales still counted, and shows the same digits (an amount
-- of 1.50 gone leaves 0.00 at scale 2, not summed). Measure `row` counts the amounts' rows
-- of the key (a key shows while it has any).
CREATE TABLE IF NOT EXISTS portfolio_funding_sums (
    funder   text    NOT NULL,
    currency text,
    measure  text    NOT NULL,
    scale    integer NOT NULL,
    amount   numeric NOT NULL,
    n        bigint  NOT NULL,
    UNIQUE NULLS NOT DISTINCT (funder, currency, measure, scale)
);
CREATE TABLE IF NOT EXISTS portfolio_funding_deltas (
    funder text, currency text, measure text, scale integer, amount numeric NOT NULL,
    n bigint NOT NULL
);

-- How many rows each per-convention table has (indicators, spend, cohorts).
CREATE TABLE IF NOT EXISTS portfolio_row_counts (
    name text   PRIMARY KEY,
    n    bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS portfolio_row_deltas (name text, n bigint NOT NULL);

-- Open tasks of active conventions per due day (UTC): the overdue count is the days before
-- today summed, plus today's tasks already due, counted from the index.
CREATE TABLE IF NOT EXISTS portfolio_overdue_days (
    day   date   PRIMARY KEY,
    tasks bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS portfolio_overdue_deltas (day date, tasks bigint NOT NULL);

CREATE OR REPLACE FUNCTION portfolio_due_day(due timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT (due AT TIME ZONE 'UTC')::date $$;

-- One convention row's amounts, signed: the two halves of the funding query's `amounts`.
CREATE OR REPLACE FUNCTION portfolio_funding_of(c conventions, sign integer)
RETURNS TABLE (funder text, currency text, measure text, scale integer, amount numeric,
               n integer)
LANGUAGE sql IMMUTABLE AS $$
SELECT c.funder, c.currency, m.measure, m.scale, sign * m.amount, sign
FROM (VALUES
        ('row', 0, 0::numeric, true),
        ('requested', scale(c.requested), c.requested, c.requested IS NOT NULL),
        ('pending', scale(c.requested), c.requested, c.requested IS NOT NULL
             AND (c.decision IS NULL OR c.decision IN ('pending', 'more_information'))),
        ('rejected', scale(c.requested), c.requested, c.requested IS NOT NULL
             AND c.decision IS NOT DISTINCT FROM 'reject')
     ) AS m (measure, scale, amount, counted)
WHERE c.id IS NOT NULL AND c.funder IS NOT NULL AND c.currency IS NOT NULL AND m.counted
UNION ALL
SELECT c.funder, c.granted_currency, m.measure, m.scale, sign * m.amount, sign
FROM (VALUES ('row', 0, 0::numeric), ('granted', scale(c.granted), c.granted))
     AS m (measure, scale, amount)
WHERE c.id IS NOT NULL AND c.funder IS NOT NULL AND c.granted IS NOT NULL
$$;

-- One convention row's rows in the per-convention tables (a `targets` or `cohorts` that is
-- not an object counts none: the full query would fail on it; a write must not).
CREATE OR REPLACE FUNCTION portfolio_rows_of(c conventions, sign integer)
RETURNS TABLE (name text, n integer)
LANGUAGE sql IMMUTABLE AS $$
SELECT r.name, sign * r.n
FROM (VALUES
        ('indicators', CASE WHEN jsonb_typeof(c.targets) = 'object'
                            THEN (SELECT count(*)::integer FROM jsonb_object_keys(c.targets))
                            ELSE 0 END),
        ('spend', CASE WHEN c.spent IS NOT NULL OR c.budget IS NOT NULL THEN 1 ELSE 0 END),
        ('cohorts', CASE WHEN jsonb_typeof(c.cohorts) = 'object' AND c.cohorts <> '{}'
                         THEN 1 ELSE 0 END)
     ) AS r (name, n)
WHERE c.id IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION portfolio_conventions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row conventions;
    new_row conventions;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := OLD; END IF;
    IF TG_OP <> 'DELETE' THEN new_row := NEW; END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.id, OLD.stage, OLD.kind, OLD.state, OLD.countries, OLD.sector, OLD.funder,
            OLD.currency, OLD.requested, OLD.granted, OLD.granted_currency, OLD.decision,
            OLD.targets, OLD.spent, OLD.budget, OLD.cohorts)
           IS NOT DISTINCT FROM
           (NEW.id, NEW.stage, NEW.kind, NEW.state, NEW.countries, NEW.sector, NEW.funder,
            NEW.currency, NEW.requested, NEW.granted, NEW.granted_currency, NEW.decision,
            NEW.targets, NEW.spent, NEW.budget, NEW.cohorts)
    THEN
        RETURN NULL;  -- no figure moves (dates, actuals, titles): no counter touched
    END IF;

    INSERT INTO portfolio_stage_deltas (stage, kind, state, conventions)
    SELECT d.stage, d.kind, d.state, sum(d.delta)
    FROM (SELECT coalesce(old_row.stage, '-'), coalesce(old_row.kind, '-'), old_row.state, -1
          WHERE old_row.id IS NOT NULL
          UNION ALL
          SELECT coalesce(new_row.stage, '-'), coalesce(new_row.kind, '-'), new_row.state, 1
          WHERE new_row.id IS NOT NULL) AS d (stage, kind, state, delta)
    GROUP BY 1, 2, 3 HAVING sum(d.delta) <> 0;

    INSERT INTO portfolio_country_deltas (country, sector, conventions)
    SELECT d.country, d.sector, sum(d.delta)
    FROM (SELECT country, coalesce(old_row.sector, '-'), -1
          FROM unnest(CASE WHEN old_row.countries = '{}' THEN ARRAY['-']
                           ELSE old_row.countries END) AS country
          WHERE old_row.id IS NOT NULL
          UNION ALL
          SELECT country, coalesce(new_row.sector, '-'), 1
          FROM unnest(CASE WHEN new_row.countries = '{}' THEN ARRAY['-']
                           ELSE new_row.countries END) AS country
          WHERE new_row.id IS NOT NULL) AS d (country, sector, delta)
    GROUP BY 1, 2 HAVING sum(d.delta) <> 0;

    INSERT INTO portfolio_funding_deltas (funder, currency, measure, scale, amount, n)
    SELECT d.funder, d.currency, d.measure, d.scale, sum(d.amount), sum(d.n)
    FROM (SELECT * FROM portfolio_funding_of(old_row, -1)
          UNION ALL
          SELECT * FROM portfolio_funding_of(new_row, 1)) AS d
    GROUP BY 1, 2, 3, 4 HAVING sum(d.n) <> 0 OR sum(d.amount) <> 0;

    INSERT INTO portfolio_row_deltas (name, n)
    SELECT d.name, sum(d.n)
    FROM (SELECT * FROM portfolio_rows_of(old_row, -1)
          UNION ALL
          SELECT * FROM portfolio_rows_of(new_row, 1)) AS d
    GROUP BY 1 HAVING sum(d.n) <> 0;

    -- The convention's open tasks count while it is active: counted in, or out, when that
    -- changes (the task trigger below reads this row's state under a share lock).
    IF (old_row.id IS NOT NULL AND old_row.state = 'active')
       IS DISTINCT FROM (new_row.id IS NOT NULL AND new_row.state = 'active')
       OR old_row.id IS DISTINCT FROM new_row.id
    THEN
        INSERT INTO portfolio_overdue_deltas (day, tasks)
        SELECT d.day, sum(d.delta)
        FROM (SELECT portfolio_due_day(t.due_at), -1 FROM office_tasks AS t
              WHERE old_row.state = 'active' AND t.convention_id = old_row.id
                AND t.state = 'open' AND t.due_at IS NOT NULL
              UNION ALL
              SELECT portfolio_due_day(t.due_at), 1 FROM office_tasks AS t
              WHERE new_row.state = 'active' AND t.convention_id = new_row.id
                AND t.state = 'open' AND t.due_at IS NOT NULL) AS d (day, delta)
        GROUP BY 1 HAVING sum(d.delta) <> 0;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION portfolio_tasks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row office_tasks;
    new_row office_tasks;
    old_counts boolean := false;
    new_counts boolean := false;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := OLD; END IF;
    IF TG_OP <> 'DELETE' THEN new_row := NEW; END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.convention_id, OLD.state, OLD.due_at)
           IS NOT DISTINCT FROM (NEW.convention_id, NEW.state, NEW.due_at)
    THEN
        RETURN NULL;
    END IF;
    -- The convention's state read under a share lock: a concurrent change of its state
    -- (which counts its open tasks in or out) either committed before, and is seen here,
    -- or waits for this transaction, and sees this task.
    IF old_row.state = 'open' AND old_row.due_at IS NOT NULL THEN
        SELECT c.state = 'active' INTO old_counts FROM conventions AS c
        WHERE c.id = old_row.convention_id FOR SHARE;
    END IF;
    IF new_row.state = 'open' AND new_row.due_at IS NOT NULL THEN
        SELECT c.state = 'active' INTO new_counts FROM conventions AS c
        WHERE c.id = new_row.convention_id FOR SHARE;
    END IF;
    INSERT INTO portfolio_overdue_deltas (day, tasks)
    SELECT d.day, sum(d.delta)
    FROM (SELECT portfolio_due_day(old_row.due_at), -1 WHERE coalesce(old_counts, false)
          UNION ALL
          SELECT portfolio_due_day(new_row.due_at), 1 WHERE coalesce(new_counts, false))
         AS d (day, delta)
    GROUP BY 1 HAVING sum(d.delta) <> 0;
    RETURN NULL;
END;
$$;

-- The deltas moved into the counters: each table's deltas deleted and added in one
-- statement, keys in order (two folds at a time wait on each other's counter rows in one
-- order). Returns how many counter rows it wrote.
CREATE OR REPLACE FUNCTION portfolio_fold() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    folded bigint := 0;
    rows_now bigint;
BEGIN
    WITH moved AS (DELETE FROM portfolio_stage_deltas RETURNING *)
    INSERT INTO portfolio_stage_counts AS s (stage, kind, state, conventions)
    SELECT stage, kind, state, sum(conventions) FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (stage, kind, state)
    DO UPDATE SET conventions = s.conventions + excluded.conventions;
    GET DIAGNOSTICS rows_now = ROW_COUNT; folded := folded + rows_now;

    WITH moved AS (DELETE FROM portfolio_country_deltas RETURNING *)
    INSERT INTO portfolio_country_counts AS s (country, sector, conventions)
    SELECT country, sector, sum(conventions) FROM moved GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (country, sector)
    DO UPDATE SET conventions = s.conventions + excluded.conventions;
    GET DIAGNOSTICS rows_now = ROW_COUNT; folded := folded + rows_now;

    WITH moved AS (DELETE FROM portfolio_funding_deltas RETURNING *)
    INSERT INTO portfolio_funding_sums AS s (funder, currency, measure, scale, amount, n)
    SELECT funder, currency, measure, scale, sum(amount), sum(n) FROM moved
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (funder, currency, measure, scale)
    DO UPDATE SET amount = s.amount + excluded.amount, n = s.n + excluded.n;
    GET DIAGNOSTICS rows_now = ROW_COUNT; folded := folded + rows_now;

    WITH moved AS (DELETE FROM portfolio_row_deltas RETURNING *)
    INSERT INTO portfolio_row_counts AS s (name, n)
    SELECT name, sum(n) FROM moved GROUP BY 1 ORDER BY 1
    ON CONFLICT (name) DO UPDATE SET n = s.n + excluded.n;
    GET DIAGNOSTICS rows_now = ROW_COUNT; folded := folded + rows_now;

    WITH moved AS (DELETE FROM portfolio_overdue_deltas RETURNING *)
    INSERT INTO portfolio_overdue_days AS s (day, tasks)
    SELECT day, sum(tasks) FROM moved GROUP BY 1 ORDER BY 1
    ON CONFLICT (day) DO UPDATE SET tasks = s.tasks + excluded.tasks;
    GET DIAGNOSTICS rows_now = ROW_COUNT; folded := folded + rows_now;
    RETURN folded;
END;
$$;

-- Every counter counted again from the rows (the backfill below; after a data-only restore
-- into a database that has the triggers, or a TRUNCATE of the read model). No write
-- meanwhile: the counts and the triggers start from the same rows.
CREATE OR REPLACE FUNCTION portfolio_recount() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE conventions, office_tasks IN SHARE ROW EXCLUSIVE MODE;
    TRUNCATE portfolio_stage_counts, portfolio_country_counts, portfolio_funding_sums,
             portfolio_row_counts, portfolio_overdue_days, portfolio_stage_deltas,
             portfolio_country_deltas, portfolio_funding_deltas, portfolio_row_deltas,
             portfolio_overdue_deltas;

    INSERT INTO portfolio_stage_counts (stage, kind, state, conventions)
    SELECT coalesce(stage, '-'), coalesce(kind, '-'), state, count(*)
    FROM conventions GROUP BY 1, 2, 3;

    INSERT INTO portfolio_country_counts (country, sector, conventions)
    SELECT country, coalesce(sector, '-'), count(*)
    FROM conventions, unnest(CASE WHEN countries = '{}' THEN ARRAY['-'] ELSE countries END)
         AS country
    GROUP BY 1, 2;

    INSERT INTO portfolio_funding_sums (funder, currency, measure, scale, amount, n)
    SELECT f.funder, f.currency, f.measure, f.scale, sum(f.amount), sum(f.n)
    FROM conventions AS c, portfolio_funding_of(c, 1) AS f
    GROUP BY 1, 2, 3, 4;

    INSERT INTO portfolio_row_counts (name, n)
    SELECT r.name, sum(r.n) FROM conventions AS c, portfolio_rows_of(c, 1) AS r GROUP BY 1;

    INSERT INTO portfolio_overdue_days (day, tasks)
    SELECT portfolio_due_day(t.due_at), count(*)
    FROM office_tasks AS t JOIN conventions AS c ON c.id = t.convention_id
    WHERE t.state = 'open' AND t.due_at IS NOT NULL AND c.state = 'active'
    GROUP BY 1;
END;
$$;

-- A TRUNCATE fires no row trigger: the counters are counted again after it.
CREATE OR REPLACE FUNCTION portfolio_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM portfolio_recount();
    RETURN NULL;
END;
$$;

LOCK TABLE conventions, office_tasks IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER IF EXISTS conventions_portfolio ON conventions;
CREATE TRIGGER conventions_portfolio
    AFTER INSERT OR UPDATE OR DELETE ON conventions
    FOR EACH ROW EXECUTE FUNCTION portfolio_conventions_changed();

DROP TRIGGER IF EXISTS office_tasks_portfolio ON office_tasks;
CREATE TRIGGER office_tasks_portfolio
    AFTER INSERT OR UPDATE OR DELETE ON office_tasks
    FOR EACH ROW EXECUTE FUNCTION portfolio_tasks_changed();

DROP TRIGGER IF EXISTS conventions_portfolio_truncated ON conventions;
CREATE TRIGGER conventions_portfolio_truncated
    AFTER TRUNCATE ON conventions FOR EACH STATEMENT EXECUTE FUNCTION portfolio_truncated();

DROP TRIGGER IF EXISTS office_tasks_portfolio_truncated ON office_tasks;
CREATE TRIGGER office_tasks_portfolio_truncated
    AFTER TRUNCATE ON office_tasks FOR EACH STATEMENT EXECUTE FUNCTION portfolio_truncated();

-- The backfill: the counts of the rows already there, by the same functions.
SELECT portfolio_recount();

-- The page's first rows of each per-convention table, walked in the table's order over only
-- the conventions that have such rows (instead of every convention, most without).
CREATE INDEX IF NOT EXISTS conventions_with_targets ON conventions (id) WHERE targets <> '{}';
CREATE INDEX IF NOT EXISTS conventions_with_spend ON conventions (id)
    WHERE spent IS NOT NULL OR budget IS NOT NULL;
CREATE INDEX IF NOT EXISTS conventions_with_cohorts ON conventions (id) WHERE cohorts <> '{}';
-- The overdue tasks in the table's order (due_at, convention_id, task_id), open only.
CREATE INDEX IF NOT EXISTS office_tasks_open_by_due_task
    ON office_tasks (due_at, convention_id, task_id) WHERE state = 'open';
