-- The document store (issue 25): each stored document's bytes once, by SHA-256, and a row for
-- every upload of them (who, when, for which convention and task); the timestamp tokens that
-- anchor a convention's milestone chain.

-- The bytes, written once, never updated: the embedded store keeps them here (an S3-compatible
-- store keeps them in its bucket under the same key, and leaves `content` NULL).
CREATE TABLE IF NOT EXISTS document_contents (
    sha256      text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint      NOT NULL CHECK (size_bytes >= 0),
    content     bytea,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (content IS NULL OR octet_length(content) = size_bytes)
);
-- PostgreSQL would try to compress a PDF or a DOCX (already compressed) for nothing.
ALTER TABLE document_contents ALTER COLUMN content SET STORAGE EXTERNAL;

-- One row per (bytes, convention, task): the same file uploaded twice for the same task is one
-- row; for two conventions, two rows over one copy of the bytes.
CREATE TABLE IF NOT EXISTS documents (
    id             bigserial   PRIMARY KEY,
    sha256         text        NOT NULL REFERENCES document_contents (sha256),
    size_bytes     bigint      NOT NULL CHECK (size_bytes >= 0),
    media_type     text        NOT NULL,                 -- sniffed from the content
    file_name      text        NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 200),
    uploaded_by    text        NOT NULL,
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    convention_id  text        NOT NULL,
    task_id        text        NOT NULL DEFAULT ''       -- '' : the convention's, no task's
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_once_per_task
    ON documents (sha256, convention_id, task_id);
CREATE INDEX IF NOT EXISTS documents_of_convention ON documents (convention_id, uploaded_at);

-- RFC 3161 tokens over the head of a convention's milestone chain: the TSA's signed statement
-- that this hash existed at gen_time. A database rewritten later (chain recomputed end to end)
-- no longer matches the tokens.
CREATE TABLE IF NOT EXISTS chain_anchors (
    convention_id  text        NOT NULL,
    head_seq       bigint      NOT NULL CHECK (head_seq >= 1),
    head_hash      text        NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
    tsa_url        text        NOT NULL,
    token          bytea       NOT NULL,                 -- DER TimeStampToken (CMS)
    gen_time       timestamptz NOT NULL,                 -- as the token says
    anchored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, head_seq)
);
