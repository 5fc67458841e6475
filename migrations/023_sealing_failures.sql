-- Signed originals that could not be sealed (issue 25): the convention entered into force, the
-- portal's sweep tried to seal its signed original and was refused (no certificate, an expired
-- one, the text not held, the timestamp authority down). The row is the office's task until
-- the original is sealed: the office's task list and the convention's page say why, and the
-- sweep tries again. It is deleted once the original is sealed.
CREATE TABLE IF NOT EXISTS sealing_failures (
    convention_id    text        PRIMARY KEY,
    reason           text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at   timestamptz NOT NULL DEFAULT now()
);
