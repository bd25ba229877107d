"""Seed the license catalog from licenses/data (copied from the legal team's reference data)."""

from django.db import migrations


def seed(apps, schema_editor, only_missing=False):
    from licenses.engine.catalog import specs_from_yaml, vocabulary_from_yaml

    License = apps.get_model("licenses", "License")
    LicenseText = apps.get_model("licenses", "LicenseText")
    Obligation = apps.get_model("licenses", "Obligation")
    LicenseObligation = apps.get_model("licenses", "LicenseObligation")

    for item in vocabulary_from_yaml():
        write = Obligation.objects.get_or_create if only_missing else Obligation.objects.update_or_create
        write(term=item["term"], defaults={"meaning": item.get("meaning", "")})
    meanings = {o.term.split(":", 1)[0]: o.meaning for o in Obligation.objects.all()}

    specs = specs_from_yaml()
    if only_missing:  # later data migrations: add new catalog entries, never overwrite reviewers' edits
        existing = set(License.objects.values_list("key", flat=True))
        specs = [s for s in specs if s.id not in existing]
    rows = {s.key: s for s in License.objects.all()}
    for spec in specs:
        texts = list(spec.texts)
        lic, _ = License.objects.update_or_create(
            key=spec.id,
            defaults={
                "spdx_id": spec.spdx,
                "name": spec.name,
                "family": spec.family,
                "threat_group": spec.threat,
                "aliases": list(spec.aliases),
                "reference_names": list(spec.names),
                "urls": list(spec.urls),
                "text": texts[0].text if texts else "",
                "notice": spec.notice,
                "display_attribution": spec.display,
                "naming_prefix": spec.naming_prefix,
                "binds_output_trained": spec.binds_output_trained,
            },
        )
        rows[spec.id] = lic
        for text in texts[1:]:
            LicenseText.objects.update_or_create(license=lic, name=text.name, defaults={"text": text.text})
        for ob in spec.obligations:
            obligation, _ = Obligation.objects.get_or_create(
                term=ob.term, defaults={"meaning": meanings.get(ob.term.split(":", 1)[0], "")}
            )
            LicenseObligation.objects.update_or_create(
                license=lic, obligation=obligation, defaults={"clause": ob.clause, "quote": ob.quote}
            )
    for spec in specs:
        if spec.component_of and spec.component_of in rows and spec.id in rows:
            License.objects.filter(pk=rows[spec.id].pk).update(component_of=rows[spec.component_of])


class Migration(migrations.Migration):
    dependencies = [("licenses", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
