"""The database's own check that a version's stage moves only with the approval of a request for it (PostgreSQL).

The writer sets a version's stage only inside the decision that approves a request (ModelVersion.DECIDED_FIELDS,
`writer.deciding()`), and the replay takes a stage only from that decision's `stage_change` entry. Neither stops SQL
under a `stage_change` entry forged in the same transaction, nor Python that takes the decision's permit. This
trigger does: at COMMIT, a version whose stage changed must have, in the same transaction, an approval of a request
(`governance.promotionrequest.approve`, appended by this transaction) that the request's row says is approved and
that asks for exactly this: this version in this stage, or, archiving it, another version of its model in the stage
it leaves; and no earlier transaction approved that request (an old approval replayed). The same holds for when the
stage changed (re-validation counts from it). A version is never made in a stage other than "none". What passes it
is a request approved in the same transaction: past the product, only under an approval entry forged for a request
never approved before, the limit docs/security.md names.

SQLite has no deferred triggers: there the writer and `audit verify` are the checks (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_migrate

NAME = "governance_guard_stage"

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {NAME}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'refused: a model version is made in no stage (version id=%, stage %): only the approval of a '
                        'promotion request moves it', NEW.id, NEW.stage
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (
        SELECT 1 FROM governance_promotionrequest r
          JOIN registry_modelversion rv ON rv.id = r.version_id
         WHERE r.status = 'approved'
           AND ((r.version_id = NEW.id AND r.target_stage = NEW.stage)
                OR (NEW.stage = 'archived' AND r.version_id <> NEW.id AND rv.model_id = NEW.model_id
                    AND r.target_stage = OLD.stage))
           AND EXISTS (SELECT 1 FROM audit_auditentry e
                        WHERE e.object_type = 'governance.promotionrequest' AND e.object_id = r.id::text
                          AND e.action = 'governance.promotionrequest.approve' AND e.xact = pg_current_xact_id()
                          AND e.seq <= (SELECT h.seq FROM audit_chainhead h WHERE h.id = 1))
           -- A request is approved once: an approval entry of an earlier transaction means this one is replayed.
           AND NOT EXISTS (SELECT 1 FROM audit_auditentry o
                            WHERE o.object_type = 'governance.promotionrequest' AND o.object_id = r.id::text
                              AND o.action = 'governance.promotionrequest.approve'
                              AND o.xact <> pg_current_xact_id())
    ) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'refused: model version id=% moved from stage % to % (stage changed at %) with no promotion '
                    'request for it approved in the same transaction', NEW.id, OLD.stage, NEW.stage,
                    NEW.stage_changed_at
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

_STATEMENTS = [
    _FUNCTION,
    f'DROP TRIGGER IF EXISTS {NAME} ON "registry_modelversion"',
    # Both decided fields (ModelVersion.DECIDED_FIELDS): re-validation and monitoring count from stage_changed_at.
    f'CREATE CONSTRAINT TRIGGER {NAME} AFTER UPDATE OF "stage", "stage_changed_at" ON "registry_modelversion" '
    f'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD."stage" IS DISTINCT FROM NEW."stage" OR '
    f'OLD."stage_changed_at" IS DISTINCT FROM NEW."stage_changed_at") EXECUTE FUNCTION {NAME}()',
    f'DROP TRIGGER IF EXISTS {NAME}_made ON "registry_modelversion"',
    f'CREATE TRIGGER {NAME}_made BEFORE INSERT ON "registry_modelversion" FOR EACH ROW '
    f"WHEN (NEW.\"stage\" <> 'none') EXECUTE FUNCTION {NAME}()",
]


def install(using: str = "default", **kwargs: Any) -> None:
    """(Re)create the trigger on PostgreSQL, after every migrate."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for statement in _STATEMENTS:
            cursor.execute(statement)


def connect(sender: Any) -> None:
    post_migrate.connect(install, sender=sender, weak=False, dispatch_uid="governance-stage-guard")
