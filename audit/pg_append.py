"""PostgreSQL fast path of the append: hash, chain, Merkle nodes and head in one server round trip.

The function builds exactly the bytes the Python path builds (tests check both chains with the
standalone verifier): the client sends each entry's canonical JSON up to "object", and the server
adds "prev", "seq", "ts" and "v" — the last four members in RFC 8785 order — while holding the
head's row lock for the shortest possible time.

The rows travel as one JSON text: adapting ten text arrays on the client cost more than the whole
function on the server.

The function itself is installed by migrations, each holding its SQL as it was then; the one in force is
audit/migrations/0009_entry_transaction.py. A change to it is a new migration.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg

from audit.models import ENTRY_COLUMNS

COLUMNS = ("prefix", *ENTRY_COLUMNS)

# The entries' timestamp is the one the caller passed or the head's, which it never needs back: reading it
# would parse a timestamptz per entry on the client.
APPEND_SQL = "SELECT o_seq, o_hash FROM audit_append(%s, %s::json)"


def append(
    cursor: Any, now: dt.datetime, rows: list[dict[str, Any]], *, commit: bool = False
) -> list[tuple[int, str]]:
    """Append rows (the prefix and the filter columns of each entry, as `writer._row` makes them).

    With `commit` (the caller's transaction ends here), COMMIT is sent in the same message as the
    append, saving a round trip while the head is locked. That needs client-side binding (Django's
    default for psycopg 3), which can carry two statements; with server-side binding the COMMIT is
    left to Django. Either way the entries and the change commit together or not at all: if the
    append fails, the COMMIT after it is never run and the transaction rolls back.
    """
    payload = json.dumps([{c: row[c] for c in COLUMNS} for row in rows], ensure_ascii=False)
    with_commit = commit and isinstance(getattr(cursor, "cursor", cursor), psycopg.ClientCursor)
    cursor.execute(APPEND_SQL + "; COMMIT" if with_commit else APPEND_SQL, [now, payload])
    return list(cursor.fetchall())
