"""Reinstall the PostgreSQL append function: deferred foreign-key checks now run before the head is locked.

The function as it was at this migration, frozen here (see 0006)."""

from django.db import migrations

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION audit_append(
    p_now timestamptz, p_prefix text[], p_actor_kind text[], p_actor_id text[], p_actor_name text[],
    p_action text[], p_object_type text[], p_object_id text[], p_object_repr text[], p_channel text[],
    p_request_id text[]
) RETURNS TABLE(o_seq bigint, o_hash text, o_ts timestamptz) AS $$
DECLARE
    v_seq bigint; v_prev text; v_ts timestamptz; v_ts_text text; v_frontier bytea;
    v_canon bytea; v_hash text; v_node bytea; v_idx bigint; v_level int; v_keys bigint[] := '{}';
    v_nodes bytea[] := '{}'; i int;
BEGIN
    -- Django makes foreign keys DEFERRABLE INITIALLY DEFERRED, so their row locks would be taken at
    -- COMMIT, after the head's lock: two writers could then wait on each other. Checking them now
    -- keeps the head the last lock every transaction takes.
    SET CONSTRAINTS ALL IMMEDIATE;
    SELECT h.seq, h.hash, greatest(p_now, coalesce(h.ts, p_now)), h.frontier
      INTO v_seq, v_prev, v_ts, v_frontier
      FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    v_ts_text := to_char(v_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR i IN 1 .. coalesce(array_length(p_prefix, 1), 0) LOOP
        v_seq := v_seq + 1;
        v_canon := convert_to(p_prefix[i] || '"prev":"' || v_prev || '","seq":' || v_seq
                              || ',"ts":"' || v_ts_text || '","v":1}', 'UTF8');
        v_hash := encode(sha256(v_canon), 'hex');
        INSERT INTO audit_auditentry (seq, ts, actor_kind, actor_id, actor_name, action, object_type,
                                      object_id, object_repr, channel, request_id, canonical, prev, hash)
        VALUES (v_seq, v_ts, p_actor_kind[i], p_actor_id[i], p_actor_name[i], p_action[i], p_object_type[i],
                p_object_id[i], p_object_repr[i], p_channel[i], p_request_id[i], v_canon, v_prev, v_hash);
        v_idx := v_seq - 1;
        v_level := 0;
        v_node := sha256('\x00'::bytea || decode(v_hash, 'hex'));
        v_keys := v_keys || v_idx;
        v_nodes := v_nodes || v_node;
        WHILE v_idx % 2 = 1 LOOP
            v_node := sha256('\x01'::bytea || substring(v_frontier FROM length(v_frontier) - 31 FOR 32) || v_node);
            v_frontier := substring(v_frontier FROM 1 FOR length(v_frontier) - 32);
            v_level := v_level + 1;
            v_idx := v_idx / 2;
            v_keys := v_keys || ((v_level::bigint << 56) | v_idx);
            v_nodes := v_nodes || v_node;
        END LOOP;
        v_frontier := v_frontier || v_node;
        v_prev := v_hash;
        o_seq := v_seq; o_hash := v_hash; o_ts := v_ts;
        RETURN NEXT;
    END LOOP;
    INSERT INTO audit_merklenode (key, hash) SELECT * FROM unnest(v_keys, v_nodes);
    UPDATE audit_chainhead SET seq = v_seq, hash = v_prev, ts = v_ts, frontier = v_frontier WHERE id = 1;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FUNCTION_SQL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_pg_append_function")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
