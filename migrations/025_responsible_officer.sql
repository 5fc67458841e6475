-- Issue 23, item 5: the convention's responsible officer is an assignment the desk can change
-- (the workflow's `change_officer` update, recorded as an officer_changed milestone). The
-- milestone's read-model write sets `convention_search.officer_name/officer_email`, which
-- the keepers' rule, "my conventions" and the officer filter read; `officer_seq` is the seq
-- of the change applied (a replayed or older milestone changes nothing), and once it is set
-- the file's trigger no longer puts the file's `officer` back.
ALTER TABLE convention_search ADD COLUMN IF NOT EXISTS officer_seq bigint;

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
        officer_name = CASE WHEN s.officer_seq IS NULL THEN excluded.officer_name
                            ELSE s.officer_name END,
        officer_email = CASE WHEN s.officer_seq IS NULL THEN excluded.officer_email
                             ELSE s.officer_email END,
        words = excluded.words;
    RETURN NEW;
END
$$;
