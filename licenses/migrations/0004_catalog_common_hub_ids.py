"""Add catalog entries for common Hub license ids without texts (openrail, CC 2.0/3.0, BSL, AFL, …)."""

import importlib

from django.db import migrations


def add_missing(apps, schema_editor):
    importlib.import_module("licenses.migrations.0002_seed_catalog").seed(apps, schema_editor, only_missing=True)


class Migration(migrations.Migration):
    dependencies = [("licenses", "0003_unfit_applications")]

    operations = [migrations.RunPython(add_missing, migrations.RunPython.noop)]
