from django.db import migrations, models


def create_generation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS modelgate_generation")
    else:
        apps.get_model("core", "DataGeneration").objects.get_or_create(pk=1, defaults={"value": 1})


def drop_generation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS modelgate_generation")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_team_audit_actions"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_generation, drop_generation),
    ]
