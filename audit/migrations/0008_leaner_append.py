"""A cheaper append: no index on the entry hash, request ids indexed only where set, Merkle nodes
stored from level 4 up, and the PostgreSQL function taking its rows as one JSON text.

The function as it was at this migration, frozen here (see 0006), with audit.merkle.STORED_LEVEL (4) written in:
the function in force, which audit.pg_append calls; a change to it is a new migration."""

from django.db import migrations, models

from audit.migrations import _append_only_v1

# The function of 0006 and 0007, which this one replaces (another signature, so CREATE OR REPLACE would keep both).
OLD_SIGNATURE = "audit_append(timestamptz, " + ", ".join(["text[]"] * 10) + ")"

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION audit_append(p_now timestamptz, p_rows json)
RETURNS TABLE(o_seq bigint, o_hash text, o_ts timestamptz) AS $$
DECLARE
    v_seq bigint; v_prev text; v_ts timestamptz; v_ts_text text; v_frontier bytea;
    v_canon bytea; v_hash text; v_node bytea; v_idx bigint; v_level int; v_keys bigint[] := '{}';
    v_nodes bytea[] := '{}'; r record;
BEGIN
    -- Django makes foreign keys DEFERRABLE INITIALLY DEFERRED, so their row locks would be taken at
    -- COMMIT, after the head's lock: two writers could then wait on each other. Checking them now
    -- keeps the head the last lock every transaction takes.
    SET CONSTRAINTS ALL IMMEDIATE;
    SELECT h.seq, h.hash, greatest(p_now, coalesce(h.ts, p_now)), h.frontier
      INTO v_seq, v_prev, v_ts, v_frontier
      FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    v_ts_text := to_char(v_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR r IN SELECT x.* FROM json_array_elements(p_rows) WITH ORDINALITY AS a(e, n), json_to_record(a.e) AS x(
                 prefix text, actor_kind text, actor_id text, actor_name text, action text, object_type text,
                 object_id text, object_repr text, channel text, request_id text)
             ORDER BY a.n LOOP
        v_seq := v_seq + 1;
        v_canon := convert_to(r.prefix || '"prev":"' || v_prev || '","seq":' || v_seq
                              || ',"ts":"' || v_ts_text || '","v":1}', 'UTF8');
        v_hash := encode(sha256(v_canon), 'hex');
        INSERT INTO audit_auditentry (seq, ts, actor_kind, actor_id, actor_name, action, object_type,
                                      object_id, object_repr, channel, request_id, canonical, prev, hash)
        VALUES (v_seq, v_ts, r.actor_kind, r.actor_id, r.actor_name, r.action, r.object_type,
                r.object_id, r.object_repr, r.channel, r.request_id, v_canon, v_prev, v_hash);
        -- Fold the leaf into the compact range; keep only subtrees of 2^4 leaves or more,
        -- the smaller ones are recomputed from the entries' hashes when read.
        v_idx := v_seq - 1;
        v_level := 0;
        v_node := sha256('\x00'::bytea || decode(v_hash, 'hex'));
        WHILE v_idx % 2 = 1 LOOP
            v_node := sha256('\x01'::bytea || substring(v_frontier FROM length(v_frontier) - 31 FOR 32) || v_node);
            v_frontier := substring(v_frontier FROM 1 FOR length(v_frontier) - 32);
            v_level := v_level + 1;
            v_idx := v_idx / 2;
            IF v_level >= 4 THEN
                v_keys := v_keys || ((v_level::bigint << 56) | v_idx);
                v_nodes := v_nodes || v_node;
            END IF;
        END LOOP;
        v_frontier := v_frontier || v_node;
        v_prev := v_hash;
        o_seq := v_seq; o_hash := v_hash; o_ts := v_ts;
        RETURN NEXT;
    END LOOP;
    IF cardinality(v_keys) > 0 THEN
        INSERT INTO audit_merklenode (key, hash) SELECT * FROM unnest(v_keys, v_nodes);
    END IF;
    UPDATE audit_chainhead SET seq = v_seq, hash = v_prev, ts = v_ts, frontier = v_frontier WHERE id = 1;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    # SQLite rebuilds the entry table to drop the unique constraint, and its triggers with it.
    _append_only_v1.install(schema_editor.connection)
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}")
            cursor.execute(FUNCTION_SQL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_pg_append_constraints_first")]

    operations = [
        migrations.RemoveIndex(model_name="auditentry", name="audit_request"),
        migrations.AlterField(model_name="auditentry", name="hash", field=models.CharField(max_length=64)),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(("request_id", ""), _negated=True), fields=["request_id"], name="audit_request_set"
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
