from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from governance.roles import sync_roles

        # Roles are data: keep the groups' permissions in step with the code after every migrate.
        post_migrate.connect(sync_roles, dispatch_uid="governance.sync_roles")
