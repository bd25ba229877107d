from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from core.roles import sync_roles

        # Roles are data: keep the groups' permissions in step with the code after every migrate.
        post_migrate.connect(sync_roles, dispatch_uid="core.sync_roles")
