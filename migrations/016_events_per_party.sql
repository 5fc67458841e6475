-- Signed CloudEvents deduplicated per party (issue 28, item 7): source + id name an event
-- within the party whose secret signed it, so one party's event id can neither block nor be
-- taken for another party's event with the same source and id.
ALTER TABLE partner_events DROP CONSTRAINT IF EXISTS partner_events_pkey;
ALTER TABLE partner_events ADD PRIMARY KEY (party, source, id);
