"""Full-text search of message text (messaging/search.py): an IMMUTABLE function
extracting the text of a message's elements, and a GIN index on its tsvector. Built
CONCURRENTLY (the migration is not atomic), so sends keep being written while it builds.
PostgreSQL only: on SQLite (embedded mode) this does nothing and search scans.

The function is PL/pgSQL, so the planner sees it as one call (never inlined) and both
the index and every query name it the same way; COST 100, as to_tsvector's own: a
higher cost tells the truth (eight JSON path queries and a parse, 30-90 us a row) but
pushes a search for a common word past jit_above_cost, and compiling it took a second
(bench/console_search.py)."""

from django.db import migrations

# As messaging/search.py describes it (a migration keeps its own copy).
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION messaging_search_vector(elements jsonb) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 100 AS $$
BEGIN RETURN to_tsvector('simple'::regconfig,
    jsonb_path_query_array(elements, 'strict $[*] ? (@.type == "TIMTextElem").payload.text')
 || jsonb_path_query_array(elements, 'strict $[*] ? (@.type == "TIMCustomElem").payload.data')
 || jsonb_path_query_array(elements,
        'strict $[*] ? (@.type == "TIMCustomElem").payload.description')
 || jsonb_path_query_array(elements,
        'strict $[*] ? (@.type == "TIMCustomElem").payload.extension')
 || jsonb_path_query_array(elements, 'strict $[*] ? (@.type == "TIMFileElem").payload.fileName')
 || jsonb_path_query_array(elements,
        'strict $[*] ? (@.type == "TIMLocationElem").payload.description')
 || jsonb_path_query_array(elements, 'strict $[*] ? (@.type == "TIMRelayElem").payload.title')
 || jsonb_path_query_array(elements,
        'strict $[*] ? (@.type == "TIMRelayElem").payload.abstractList[*]'));
END
$$
"""
INDEX_NAME = "message_text_search_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION_SQL)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX_NAME} ON messaging_message "
        "USING gin (messaging_search_vector(elements))")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME}")
    schema_editor.execute("DROP FUNCTION IF EXISTS messaging_search_vector(jsonb)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0013_console_send"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
