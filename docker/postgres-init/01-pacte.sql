-- Pacte's own database (milestones, notifications) on the same PostgreSQL server as Temporal.
-- Run once by the postgres image, as the superuser, when the data volume is first initialised.
-- The password comes from PACTE_DB_PASSWORD in the container environment (see docker-compose.yml).
\getenv pacte_password PACTE_DB_PASSWORD
\if :{?pacte_password}
\else
  \warn 'PACTE_DB_PASSWORD is not set: using the development password'
  \set pacte_password pacte
\endif

CREATE ROLE pacte LOGIN PASSWORD :'pacte_password';
CREATE DATABASE pacte OWNER pacte;
-- The tables themselves come from Pacte's migrations (migrations/*.sql, infra/database.py).
