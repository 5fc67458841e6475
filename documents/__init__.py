"""The documents floor: the store (content-addressed, one interface over PostgreSQL or S3),
what it accepts (intake), the texts compared between versions, the sealed signed original
(PAdES) and the RFC 3161 timestamps that anchor a convention's record."""
