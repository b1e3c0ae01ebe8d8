from django.db import migrations

from privacy.groups import grant_privacy_permissions


def grant(apps, schema_editor):
    grant_privacy_permissions(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("orders", "0002_default_brand_and_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
