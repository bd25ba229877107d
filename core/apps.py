from typing import Any

from django.apps import AppConfig, apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from core.roles import on_groups_changed, sync_roles

        # Roles are data: keep the groups' permissions in step with the code after every migrate.
        post_migrate.connect(sync_roles, dispatch_uid="core.sync_roles")
        # `is_staff` follows the administrator role wherever a user's groups change (admin, shell, API).
        m2m_changed.connect(on_groups_changed, sender=get_user_model().groups.through, dispatch_uid="core.sync_staff")
        track_changes()


# Apps whose rows cached pages and gate answers are computed from (core/generation.py).
TRACKED_APPS = ("core", "governance", "identity", "inventory", "licenses", "policies", "scanning")


# Saves that change nothing a page or answer shows: signing in stamps `last_login`.
_UNSHOWN_FIELDS = frozenset({"last_login"})


def _on_write(sender: type[Any], using: str = "default", update_fields: Any = None, **kwargs: Any) -> None:
    from core import generation

    if update_fields and set(update_fields) <= _UNSHOWN_FIELDS:
        return
    generation.changed(using)


def _on_m2m(sender: type[Any], action: str, using: str = "default", **kwargs: Any) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        from core import generation

        generation.changed(using)


def tracked_models() -> list[type[models.Model]]:
    """Every model whose writes move the data generation: ours (unless `CHANGES_TRACKED = False`), users
    and groups (roles and their permissions decide what a page shows)."""
    from django.contrib.auth.models import Group

    from core import generation

    ours = [m for label in TRACKED_APPS for m in apps.get_app_config(label).get_models() if generation.tracked(m)]
    return [*ours, get_user_model(), Group]


def track_changes() -> None:
    """Connect the signals that move the data generation on every single-row write and m2m change of the
    tracked models (their querysets' bulk writes move it themselves: core.generation.TrackedQuerySet)."""
    for model in tracked_models():
        uid = f"core.generation.{model._meta.label}"
        post_save.connect(_on_write, sender=model, dispatch_uid=uid)
        if not getattr(model, "DELETED_IN_BULK", False):  # a receiver makes Django load each row it deletes
            post_delete.connect(_on_write, sender=model, dispatch_uid=uid)
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            assert through is not None  # resolved once the app registry is ready
            m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"core.generation.{through._meta.label}")
