from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from inventory import tasks

        _ = tasks  # registers the pipeline's generic step and error tasks (chains name them)
