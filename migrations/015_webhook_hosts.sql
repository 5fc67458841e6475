-- A per-organisation allow-list of webhook destinations (issue 28, item 3): when an admin has
-- set one, a delivery to any other host is refused before connecting. NULL: no list (any
-- public https host, as the outbound policy allows).
ALTER TABLE directory_channels ADD COLUMN IF NOT EXISTS webhook_hosts text[];
