"""Catalog: licenses real model repos carry (OPT-175B, ChatGLM3, GLM-4, CodeGeeX4, Yi, Baichuan 2, InternLM,
TII Falcon, CC 2.0) and identity fixes: a 2.0 id is not an alias of the 3.0 entry, the Falcon 3 terms URL is not
the Falcon 2 11B license, `qwen-research` (2024) is not the 2023 Tongyi Qianwen research license. Only the wrong aliases/URLs are removed; reviewers' other edits are kept."""

import importlib

from django.db import migrations

WRONG = {
    "cc-by-3.0": {"aliases": ["cc-by-2.0"], "urls": ["creativecommons.org/licenses/by/2.0"]},
    "cc-by-nc-3.0": {"aliases": ["cc-by-nc-2.0"], "urls": ["creativecommons.org/licenses/by-nc/2.0"]},
    "cc-by-nc-sa-3.0": {"aliases": ["cc-by-nc-sa-2.0"], "urls": ["creativecommons.org/licenses/by-nc-sa/2.0"]},
    "falcon-2-11b": {"aliases": [], "urls": ["falconllm.tii.ae/falcon-terms-and-conditions"]},
    # HF `qwen-research` is the 2024 Qwen RESEARCH LICENSE (Qwen2.5-3B), not the 2023 Tongyi Qianwen one
    "tongyi-qianwen-research": {"aliases": ["qwen-research"], "urls": []},
}
ADDED = {
    "tongyi-qianwen": {"aliases": ["tongyi-qianwen-license-agreement"]},
    "tongyi-qianwen-research": {
        "aliases": ["tongyi-qianwen-research-license-agreement", "tongyi-qianwen-research-license"]
    },
    "mistral-research": {"urls": ["mistral.ai/licences/mrl-0.1"]},
    "mnpl": {"urls": ["mistral.ai/licences/mnpl-0.1"]},
    "apache-2.0": {"reference_names": ["apache 2.0"]},
}


def forwards(apps, schema_editor):
    License = apps.get_model("licenses", "License")
    for key, wrong in WRONG.items():
        for lic in License.objects.filter(key=key):
            lic.aliases = [a for a in lic.aliases or [] if a not in wrong["aliases"]]
            lic.urls = [u for u in lic.urls or [] if u not in wrong["urls"]]
            lic.save(update_fields=["aliases", "urls"])
    for key, added in ADDED.items():
        for lic in License.objects.filter(key=key):
            for field, values in added.items():
                setattr(lic, field, list(dict.fromkeys([*(getattr(lic, field) or []), *values])))
            lic.save(update_fields=list(added))
    importlib.import_module("licenses.migrations.0002_seed_catalog").seed(apps, schema_editor, only_missing=True)


class Migration(migrations.Migration):
    dependencies = [("licenses", "0005_hub_card_license")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
