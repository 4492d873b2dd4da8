"""PostgreSQL: vacuum the two tables review rewrites after a fixed number of dead rows.

Every claim moves a comparison to the next `active_assignments` value, a column of the pick's
index, so the update leaves a dead index entry just where the next pick starts walking (least
voted first, in `order_key` order). Until a vacuum clears them every pick steps over them:
12,000 of them after a minute at 200 votes/s made the pick 0.65 ms (64 buffers) instead of
0.13 ms (12). PostgreSQL's default waits for 20% of a table to be dead, which grows with the
campaign (200,000 entries for a million comparisons); a fixed threshold keeps it to about one
autovacuum round (`autovacuum_naptime`, 1 min by default) of claims, whatever the campaign's
size. Assignment rows change status (an indexed column) on every vote, so the same applies.
SQLite has no vacuum daemon and needs none of this.
"""

from django.db import migrations

MODELS = ("Comparison", "Assignment")
SETTINGS = "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


def _alter(apps, schema_editor, clause: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in MODELS:
        table = schema_editor.quote_name(apps.get_model("arena", name)._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} {clause}")


def forwards(apps, schema_editor):
    _alter(apps, schema_editor, f"SET ({SETTINGS})")


def backwards(apps, schema_editor):
    _alter(apps, schema_editor, f"RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("arena", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
