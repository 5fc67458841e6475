-- The office's conventions list and search (issue 26, item 1).
--
-- One normalisation, `pacte_search_norm`, used on the stored text and on every query: lower
-- case, accents removed (the `unaccent` contrib extension when the server has it, else a
-- translate() of the Latin accented letters French uses), Arabic letter variants folded
-- (أ إ آ ٱ → ا, ة → ه, ى → ي), Arabic diacritics (U+064B–U+065F, U+0670) and the tatweel
-- (U+0640) removed. `convention_search` keeps, per convention file, the facts the list filters
-- on that the `conventions` row does not hold (party ids, the officer, the office's own party)
-- and one tsvector of its title and party names under the `french`, `arabic` and `simple`
-- configurations, kept current by a trigger on `convention_files`.

DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'unaccent unavailable (%): accents folded by translate()', SQLERRM;
    END;
END
$$;

DO $$
DECLARE
    folded text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN
        -- The two-argument form names its dictionary: immutable, so usable in an index.
        folded := 'public.unaccent(''public.unaccent''::regdictionary, coalesce($1, ''''))';
    ELSE
        folded := 'translate(coalesce($1, ''''), '
            || '''àâäáãåçéèêëíìîïñóòôöõúùûüýÿœæÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝŸ'', '
            || '''aaaaaaceeeeiiiinooooouuuuyyoaAAAAAACEEEEIIIINOOOOOUUUUYY'')';
    END IF;
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION pacte_search_norm(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
            SELECT lower(translate(
                regexp_replace(%s, '[\u064B-\u065F\u0670\u0640]', '', 'g'),
                'أإآٱىة', 'اااايه'))
        $body$
    $f$, folded);
END
$$;

CREATE OR REPLACE FUNCTION pacte_search_vector(text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('french', pacte_search_norm($1))
        || to_tsvector('arabic', pacte_search_norm($1))
        || to_tsvector('simple', pacte_search_norm($1))
$$;

-- A person's words as a query, under each configuration; operators in the input are words
-- to websearch_to_tsquery, never syntax that can fail.
CREATE OR REPLACE FUNCTION pacte_search_query(text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT websearch_to_tsquery('french', pacte_search_norm($1))
        || websearch_to_tsquery('arabic', pacte_search_norm($1))
        || websearch_to_tsquery('simple', pacte_search_norm($1))
$$;

CREATE TABLE IF NOT EXISTS convention_search (
    convention_id  text     PRIMARY KEY,
    parties        text[]   NOT NULL DEFAULT '{}',   -- party ids, lower case
    office_party   text,                             -- the training office's party id
    officer_name   text,
    officer_email  text,
    words          tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS convention_search_words ON convention_search USING gin (words);
CREATE INDEX IF NOT EXISTS convention_search_parties ON convention_search USING gin (parties);
CREATE INDEX IF NOT EXISTS conventions_updated ON conventions (updated_at DESC, id);
CREATE INDEX IF NOT EXISTS office_tasks_open_by_convention
    ON office_tasks (convention_id, due_at) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS office_access_log_started
    ON office_access_log (lower(email), target) WHERE action = 'start';

CREATE OR REPLACE FUNCTION pacte_convention_search_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO convention_search AS s
        (convention_id, parties, office_party, officer_name, officer_email, words)
    SELECT NEW.convention_id,
           ARRAY(SELECT lower(p ->> 'id') FROM jsonb_array_elements(NEW.document -> 'parties') p),
           (SELECT p ->> 'id' FROM jsonb_array_elements(NEW.document -> 'parties') p
             WHERE p ->> 'kind' = 'training_office' LIMIT 1),
           NEW.document -> 'officer' ->> 'name',
           lower(NEW.document -> 'officer' ->> 'email'),
           pacte_search_vector(concat_ws(' ',
               NEW.document ->> 'title',
               (SELECT string_agg(concat_ws(' ', p ->> 'name', p ->> 'short_name'), ' ')
                  FROM jsonb_array_elements(NEW.document -> 'parties') p)))
    ON CONFLICT (convention_id) DO UPDATE SET
        parties = excluded.parties, office_party = excluded.office_party,
        officer_name = excluded.officer_name, officer_email = excluded.officer_email,
        words = excluded.words;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS convention_search_row ON convention_files;
CREATE TRIGGER convention_search_row AFTER INSERT OR UPDATE OF document ON convention_files
    FOR EACH ROW EXECUTE FUNCTION pacte_convention_search_row();

-- The files recorded before this migration.
UPDATE convention_files SET document = document;
