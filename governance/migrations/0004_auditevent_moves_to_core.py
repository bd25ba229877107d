"""AuditEvent now lives in core (state only; the table is kept, see core/migrations/0001)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_modelriskrollup_riskrollup_rolluprun"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
        migrations.AlterModelOptions(
            name="risksnapshot",
            options={
                "ordering": ["-day"],
                "permissions": [("view_overview", "Can view the organization-wide risk overview")],
            },
        ),
    ]
