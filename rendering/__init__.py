"""The record's facts said in the reader's language.

The record keeps facts (a milestone's kind and typed details, a task's kind and what its id
and recorded title carry); this package says them in French, Arabic or English when they are
read, from the gettext catalogues under web/locales/ (Babel), with the reader's number, date
and money formats, and names isolated for right-to-left reading. Pages, mails, the CLI and
the auditors' timeline all call it, so a fact reads the same everywhere.
"""
