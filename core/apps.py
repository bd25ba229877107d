from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_migrate

        from core.roles import on_groups_changed, sync_roles

        # Roles are data: keep the groups' permissions in step with the code after every migrate.
        post_migrate.connect(sync_roles, dispatch_uid="core.sync_roles")
        # `is_staff` follows the administrator role wherever a user's groups change (admin, shell, API).
        m2m_changed.connect(on_groups_changed, sender=get_user_model().groups.through, dispatch_uid="core.sync_staff")
