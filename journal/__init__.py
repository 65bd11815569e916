"""The journal: the durable record of every file handed to the pipeline, one SQLite file on the spool.

Redis only dispatches; the journal is the truth. This package owns the file and every table in it, and
nothing else runs SQL on it:

    db.py       the database file: connection, schema, write transactions
    files.py    ``files`` and ``parts``: each object to deliver, its state, attempts, multipart progress
    events.py   ``encoder_segments``: each event's segments per rendition, in order, with restarts
    figures.py  read-only figures across tables, for status and metrics (live-edge lag)
    outbox.py   publishes journaled files as upload tasks into Redis (the outbox of the journal)
"""

from journal.files import FileRow, Journal, State, Totals

__all__ = ["FileRow", "Journal", "State", "Totals"]
