"""Each entry's transaction on PostgreSQL, and an append that leaves the deferred checks deferred.

The row guards (audit.row_guards, installed after every migrate) check at COMMIT that a governed row written
in a transaction has an entry appended by that same transaction: `xact`, `pg_current_xact_id()` when the
entry was inserted. No value for the rows already there (a volatile default on ADD COLUMN would rewrite the
whole table): theirs is NULL, which no transaction matches; the default is set after.

The function as it is from this migration on, frozen here (see 0006): 0008's without its
SET CONSTRAINTS ALL IMMEDIATE, which would check the row guards at the append, before their entries exist.
The foreign keys it made immediate are made immediate in the schema instead (audit.row_guards.install).
"""

from django.db import migrations

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION audit_append(p_now timestamptz, p_rows json)
RETURNS TABLE(o_seq bigint, o_hash text, o_ts timestamptz) AS $$
DECLARE
    v_seq bigint; v_prev text; v_ts timestamptz; v_ts_text text; v_frontier bytea;
    v_canon bytea; v_hash text; v_node bytea; v_idx bigint; v_level int; v_keys bigint[] := '{}';
    v_nodes bytea[] := '{}'; r record;
BEGIN
    -- No SET CONSTRAINTS ALL IMMEDIATE here any more (0007): it would fire the row guards before their
    -- entries exist. The foreign keys are checked at each statement instead (audit.row_guards), so
    -- the head is still the last lock every transaction takes.
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
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditentry ADD COLUMN IF NOT EXISTS xact xid8")
            cursor.execute("ALTER TABLE audit_auditentry ALTER COLUMN xact SET DEFAULT pg_current_xact_id()")
            cursor.execute(FUNCTION_SQL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_leaner_append")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
