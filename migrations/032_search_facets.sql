-- The conventions list at 100,000 conventions: words and a filter in one index walk
-- (issues 26 and 27, item 1).
--
-- Words and a filter that together match few (`formation kenitra` at one stage: 238 of
-- 100,000) were two tables' conditions: the words in `convention_search` (its GIN index),
-- the stage in `conventions`. The planner, counting the words' alternatives as independent,
-- overestimated them and read `convention_search` whole, or joined the words by hash with
-- every convention of the stage. `convention_search.facets` now keeps, beside the words, what
-- the list filters on in `conventions`: its stage, state, kind, countries and sector, each as
-- one element named by its field (`stage:implementation`, `country:ML`, the sector
-- normalised as the filter compares it: `sector:btp`). One GIN index holds the words, the
-- facets and the party ids together, so a search with a filter is one walk of that index
-- intersecting their lists.
--
-- The facets follow `conventions` by a trigger on it: every writer of a convention's stage,
-- state, kind, countries or sector (the read model's projection, the file's fill, a repair
-- by hand) moves them in the same transaction. The trigger makes the search row when there
-- is none yet (a convention whose file is not recorded: the row holds no words until then);
-- the file's trigger (`pacte_convention_search_row`, as migration 027 last defined it) is
-- not redefined here and never writes the facets, so it keeps them as it keeps the
-- answers' words and a changed officer.

ALTER TABLE convention_search ADD COLUMN IF NOT EXISTS facets text[] NOT NULL DEFAULT '{}';

-- A convention's facets, as the list's filters compare them (`storage/convention_search.py`:
-- equality of stage, state and kind, containment of a country, the sector normalised by
-- `pacte_search_norm`, whose value for no sector is the empty text).
CREATE OR REPLACE FUNCTION pacte_search_facets(
    stage text, state text, kind text, countries text[], sector text
) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_remove(ARRAY['stage:' || stage, 'state:' || state, 'kind:' || kind], NULL)
        || ARRAY(SELECT 'country:' || country FROM unnest(countries) AS country
                  WHERE country IS NOT NULL)
        || ('sector:' || pacte_search_norm(sector))
$$;

CREATE OR REPLACE FUNCTION pacte_convention_facets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO convention_search AS s (convention_id, words, facets)
    VALUES (NEW.id, ''::tsvector,
            pacte_search_facets(NEW.stage, NEW.state, NEW.kind, NEW.countries, NEW.sector))
    ON CONFLICT (convention_id) DO UPDATE SET facets = excluded.facets
    WHERE s.facets IS DISTINCT FROM excluded.facets;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS convention_facets_made ON conventions;
CREATE TRIGGER convention_facets_made AFTER INSERT ON conventions
    FOR EACH ROW EXECUTE FUNCTION pacte_convention_facets();

-- Every milestone updates its convention's row (its seq, its time) naming these columns;
-- the facets are rewritten only when one of them changed.
DROP TRIGGER IF EXISTS convention_facets_moved ON conventions;
CREATE TRIGGER convention_facets_moved AFTER UPDATE ON conventions
    FOR EACH ROW
    WHEN (OLD.stage IS DISTINCT FROM NEW.stage OR OLD.state IS DISTINCT FROM NEW.state
          OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.countries IS DISTINCT FROM NEW.countries
          OR OLD.sector IS DISTINCT FROM NEW.sector)
    EXECUTE FUNCTION pacte_convention_facets();

-- The conventions recorded before this migration.
INSERT INTO convention_search AS s (convention_id, words, facets)
SELECT c.id, ''::tsvector,
       pacte_search_facets(c.stage, c.state, c.kind, c.countries, c.sector)
  FROM conventions AS c
ON CONFLICT (convention_id) DO UPDATE SET facets = excluded.facets
WHERE s.facets IS DISTINCT FROM excluded.facets;

-- One index for the words, the facets and the parties (a GIN index of several columns
-- answers a condition on any of them, and intersects them when several are given): it
-- replaces the words' and the parties' own indexes of migration 012.
CREATE INDEX IF NOT EXISTS convention_search_words_facets
    ON convention_search USING gin (words, facets, parties);
DROP INDEX IF EXISTS convention_search_words;
DROP INDEX IF EXISTS convention_search_parties;

-- The record's own words are searched as the answers' are (migration 027): a diagnostic's
-- findings and recommendations, the outcomes agreed, and the officer's reasons (a
-- postponement, a reassignment, a termination, and the operator's `why` when Temporal had
-- to end the workflow). The read model adds them, from those milestones' details, to the
-- convention's `comment_words` (which the file's trigger keeps when it rewrites the title's
-- and parties' words) and to its `words`; `record_words` holds them apart too, so that a
-- row found by them says so rather than "in an answer's comment".
ALTER TABLE convention_search ADD COLUMN IF NOT EXISTS record_words tsvector NOT NULL DEFAULT '';

CREATE OR REPLACE FUNCTION pacte_record_words(jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ',
        (SELECT string_agg(said #>> '{}', ' ')
           FROM jsonb_path_query($1, 'lax $.findings[*]') AS said),
        (SELECT string_agg(said #>> '{}', ' ')
           FROM jsonb_path_query($1, 'lax $.recommendations[*]') AS said),
        (SELECT string_agg(said #>> '{}', ' ')
           FROM jsonb_path_query($1, 'lax $.outcomes[*]') AS said),
        $1 ->> 'reason',
        $1 ->> 'why')
$$;

-- The milestones recorded before this migration (once: a row that has its record's words
-- is left as it is, so that running this again adds nothing twice).
WITH said AS (
    SELECT convention_id,
           pacte_search_vector(string_agg(pacte_record_words(details), ' ' ORDER BY seq)) AS words
      FROM milestones
     WHERE kind IN ('findings_filed', 'outcomes_agreed', 'deadline_postponed',
                    'task_reassigned', 'convention_terminated')
     GROUP BY convention_id
)
INSERT INTO convention_search AS s (convention_id, words, comment_words, record_words)
SELECT convention_id, words, words, words FROM said WHERE words <> ''::tsvector
ON CONFLICT (convention_id) DO UPDATE SET
    record_words = excluded.record_words,
    comment_words = s.comment_words || excluded.record_words,
    words = s.words || excluded.record_words
WHERE s.record_words = ''::tsvector;

ANALYZE convention_search;
