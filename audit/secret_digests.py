"""Recording, once, the digests of secrets whose entries were written before entries carried them.

Since 2026-12-07 every change of a secret records its digest beside "<redacted>" (audit.chain.digest_key), and
`audit verify` compares each row's secret with it. A secret last changed before that (every API token made earlier:
its key hash never changes) has no digest in the log, so a swap of it under an unrelated entry would pass. `manage.py
audit record-digests`, run once after upgrading, records the digest of each such secret as the row holds it then.
"""

from __future__ import annotations

from typing import Any

from audit import chain, writer
from audit.reconcile import replay_log, secret_tables


def record_missing() -> int:
    """Record, for every row whose secrets the log holds no digest of, one entry (`<type>.digests_recorded`) with the
    digest of each beside its "<redacted>"; the rows are read locked in the transaction of their entries. Returns
    how many entries were recorded. Rows the log does not know are left to `audit verify`, which names them."""
    state = replay_log()
    made = 0
    for table in secret_tables():
        logged_objects = state.objects.get(table.type, {})
        names = sorted(table.secrets)
        with writer.atomic():
            for obj in table.model._base_manager.select_for_update().order_by("pk").iterator(chunk_size=2000):
                logged = logged_objects.get(str(obj.pk))
                missing = [n for n in names if logged is not None and chain.digest_key(n) not in logged]
                if not missing:
                    continue
                changes: dict[str, Any] = {}
                for name in missing:
                    changes[name] = {"old": chain.REDACTED, "new": chain.REDACTED}
                    digest = chain.secret_digest(getattr(obj, name), name)
                    changes[chain.digest_key(name)] = {"old": None, "new": digest}
                writer.record(action=f"{table.type}.digests_recorded", obj=obj, changes=changes)
                made += 1
    return made
