"""The partner desk: contacts' pages and partners' REST API, in front of application/."""
