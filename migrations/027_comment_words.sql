-- The conventions list searches the words people wrote in their answers (issue 26, item 1).
--
-- `pacte_answer_words` reads, from a `task_answered` milestone's details, the text a person
-- wrote: the answer's comments, the reason of a refusal or a withdrawal, a revised funding
-- request's note, a mission report's summary, the reasons given for cancelled milestones and
-- cohorts. The read model adds their words (`pacte_search_vector`: French, Arabic, simple)
-- to the convention's `comment_words` and to its `words`, which the search's GIN index
-- reads; the convention file's trigger (migration 012) now keeps them when it rewrites the
-- title's and parties' words (and, as 025 made it, the officer a change assigned).

ALTER TABLE convention_search ADD COLUMN IF NOT EXISTS comment_words tsvector NOT NULL DEFAULT '';

CREATE OR REPLACE FUNCTION pacte_answer_words(jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ',
        $1 -> 'answer' ->> 'comments',
        $1 -> 'answer' ->> 'reason',
        $1 -> 'answer' ->> 'note',
        $1 -> 'answer' ->> 'summary',
        (SELECT string_agg(reason #>> '{}', ' ')
           FROM jsonb_path_query($1, 'lax $.answer.cancelled_milestones[*].reason') AS reason),
        (SELECT string_agg(reason #>> '{}', ' ')
           FROM jsonb_path_query($1, 'lax $.answer.cancelled_cohorts[*].reason') AS reason))
$$;

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
        -- A changed responsible officer (migration 025) stays: the file's is the first one.
        officer_name = CASE WHEN s.officer_seq IS NULL THEN excluded.officer_name
                            ELSE s.officer_name END,
        officer_email = CASE WHEN s.officer_seq IS NULL THEN excluded.officer_email
                             ELSE s.officer_email END,
        -- The answers' words stay: they come from the milestones, not from the file.
        words = excluded.words || s.comment_words;
    RETURN NEW;
END
$$;

-- The answers recorded before this migration.
WITH said AS (
    SELECT convention_id,
           pacte_search_vector(string_agg(pacte_answer_words(details), ' ' ORDER BY seq)) AS words
      FROM milestones
     WHERE kind = 'task_answered'
     GROUP BY convention_id
)
INSERT INTO convention_search AS s (convention_id, words, comment_words)
SELECT convention_id, words, words FROM said WHERE words <> ''::tsvector
ON CONFLICT (convention_id) DO UPDATE SET
    comment_words = excluded.comment_words,
    words = s.words || excluded.comment_words;

-- A person's words as one query under each configuration, each distinct query once: Latin
-- words read the same under `arabic` as under `simple`, Arabic words the same under `french`.
-- The same conventions match; the GIN index merges fewer lists, and the planner, which
-- counts the alternatives as independent, overestimates the words less.
CREATE OR REPLACE FUNCTION pacte_search_query(text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN french = simple AND arabic = simple THEN simple
               WHEN arabic = simple OR arabic = french THEN french || simple
               WHEN french = simple THEN arabic || simple
               ELSE french || arabic || simple
           END
      FROM (SELECT websearch_to_tsquery('french', normed) AS french,
                   websearch_to_tsquery('arabic', normed) AS arabic,
                   websearch_to_tsquery('simple', normed) AS simple
              FROM (SELECT pacte_search_norm($1) AS normed) AS typed) AS configured
$$;
