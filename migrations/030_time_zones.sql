-- The reader's time zone (issue 24): a directory person's and an office account's IANA zone
-- name, checked by the application against the zone database (zoneinfo). NULL until chosen:
-- the reader then reads in their organisation's country's zone (rendering/zones.py:
-- Morocco Africa/Casablanca, Mali Africa/Bamako, Senegal Africa/Dakar, Saudi Arabia
-- Asia/Riyadh, France Europe/Paris, else UTC). The record's timestamps stay UTC.
ALTER TABLE directory_people ADD COLUMN IF NOT EXISTS time_zone text
    CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64);
ALTER TABLE office_users ADD COLUMN IF NOT EXISTS time_zone text
    CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64);
