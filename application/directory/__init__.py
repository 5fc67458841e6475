"""The partner directory: organisations, the people who act for them and in which capacity,
their channels, and the record of every change (issue 23).

One job per module: `organisations`, `people` (people and capacities), `channels`,
`import_proposal` (a convention file's inline parties against the directory), `authority`
(may this person act for this party now, for this task), `migration` (the parties of
running conventions, imported once), `cli` (`starter.py parties …`; its arguments in
`cli_arguments`, light, with `capacities`, for starter.py's parser). The SQL is in
`storage/directory.py`; the refusals are `application/errors.py`'s.
"""
