"""What the ledger and the archive are made of: the formats and rules that the writers
(activities/) and the readers (auditing/) both follow, so neither imports the other."""
