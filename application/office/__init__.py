"""The office desk's use cases, one job per module: `roles` (who may do what), `accounts`
(the accounts and their passwords), `totp` (second-factor secrets sealed at rest and codes
checked once), `signin` (sign-in and sessions), `access_log`, `portfolio`, `overview` (a
convention's page), `actions` (officers' actions in their own name), `starting` (a convention
from an uploaded file), `audit` (replay, verify, timeline, export). `desk.OfficeDesk` is the
small facade the routes hold.

Every refusal is a domain error of `application/errors.py`; nothing here knows HTTP, and all
SQL is in `storage/`.
"""
