from django.db import migrations

from orders.groups import ensure_groups


def groups(apps, schema_editor):
    # Idempotent: tops up every group, so a database migrated before the Integrations group
    # existed gets it now (a fresh one already got it in 0002, which calls the same function).
    ensure_groups(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_default_brand_and_groups"),
    ]

    operations = [
        migrations.RunPython(groups, migrations.RunPython.noop),
    ]
