"""The journal: the durable record of every file handed to the pipeline, one SQLite file on the spool.

Redis only dispatches; the journal is the truth. This package owns the file and every table in it, and
nothing else runs SQL on it. It holds state and nothing else: it imports no broker and no S3 library
(a contract in pyproject.toml); publishing goes through ``Journal.publish_due(send)``, given the sender.

    db.py       the database file: connection, schema, write transactions
    files.py    ``files`` and ``parts``: each object to deliver, its state, attempts, multipart progress
    events.py   ``encoder_segments``: each event's segments per rendition, in order, with restarts
    figures.py  read-only figures across tables, for status and metrics (live-edge lag)
    schedule.py how delivery moves a file: leases, retries, and the outbox's claims (``publish_due``)
    rows.py     the rows of ``files`` as the rest of the code sees them
    alerts.py   ``alerts``: the outbox of alert messages, one row per message and target, until sent
"""

from journal.files import FileRow, Journal, State, Totals

__all__ = ["FileRow", "Journal", "State", "Totals"]
