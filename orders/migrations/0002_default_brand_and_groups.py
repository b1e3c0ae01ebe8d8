from django.db import migrations

from orders.groups import ensure_groups


def default_brand(apps, schema_editor):
    Brand = apps.get_model("orders", "Brand")
    Brand.objects.using(schema_editor.connection.alias).get_or_create(
        slug="default", defaults={"name": "Default", "order_prefix": "ORD"}
    )


def groups(apps, schema_editor):
    ensure_groups(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(default_brand, migrations.RunPython.noop),
        migrations.RunPython(groups, migrations.RunPython.noop),
    ]
