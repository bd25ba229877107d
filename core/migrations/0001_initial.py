"""AuditEvent moves from the governance app to core, state only: the table keeps its name.

The database operations are empty (the table `governance_auditevent` was created by
governance/0001); the content type is renamed so existing permission grants follow the model.
On a fresh database the content types do not exist yet, and the rename does nothing.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    old = ContentType.objects.filter(app_label="governance", model="auditevent").first()
    if old is None:
        return
    if ContentType.objects.filter(app_label="core", model="auditevent").exists():
        return
    # view_overview belonged to the audit model's Meta; it is the dashboard's, on RiskSnapshot now.
    snapshot, _ = ContentType.objects.get_or_create(app_label="governance", model="risksnapshot")
    Permission.objects.filter(content_type=old, codename="view_overview").update(content_type=snapshot)
    old.app_label = "core"
    old.save(update_fields=["app_label"])


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="core", model="auditevent").update(app_label="governance")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        # The table is created by the governance app's first migration (where the model lived).
        ("governance", "0003_modelriskrollup_riskrollup_rolluprun"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor_repr", models.CharField(blank=True, help_text="Username at the time, or 'system'.", max_length=150)),
                        ("action", models.CharField(db_index=True, help_text="Dotted verb, e.g. policy.update.", max_length=80)),
                        ("target_id", models.CharField(blank=True, db_index=True, max_length=64)),
                        ("target_repr", models.CharField(blank=True, max_length=300)),
                        ("reason", models.TextField(blank=True)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("extra", models.JSONField(blank=True, default=dict)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("target_type", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="contenttypes.contenttype")),
                    ],
                    options={
                        "db_table": "governance_auditevent",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["target_type", "target_id", "-created_at"], name="governance__target__9e6caf_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_type, restore_content_type),
    ]
