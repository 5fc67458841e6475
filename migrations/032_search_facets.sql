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
ANALYZE convention_search;
