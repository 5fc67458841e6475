-- The language a person chose is remembered beyond the session that chose it (issue 26):
-- an office account's (`office_users.preferred_language`, not `language`: the sessions
-- joined with their account keep their own, NULL until chosen: French, the desk's
-- default) and a partner contact's, by party and contact name as their links name them
-- (`partner_contact_languages`; a link's own language, the contact's declared one, holds
-- until the contact chooses another).
ALTER TABLE office_users ADD COLUMN IF NOT EXISTS preferred_language text;

CREATE TABLE IF NOT EXISTS partner_contact_languages (
    party         text        NOT NULL,
    contact_name  text        NOT NULL,
    language      text        NOT NULL,
    chosen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (party, contact_name)
);
