"""The catalog the engine reads (rebuilt from the database when it changes), and catalog editing."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.permissions import require_global
from core.services import record_event
from licenses.engine.catalog import Catalog, LicenseSpec, ObligationSpec, TextSpec
from licenses.models import (
    License,
    LicenseObligation,
    LicenseText,
    Obligation,
)

# --- the catalog the engine reads ---------------------------------------------------------------
_CATALOG_CACHE: dict[str, Catalog] = {}


def catalog_stamp() -> str:
    """Changes whenever a catalog row is added, edited or removed — one query."""
    lic, lo, ob, lt = (m._meta.db_table for m in (License, LicenseObligation, Obligation, LicenseText))
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {lic}), (SELECT MAX(updated_at) FROM {lic}), "  # noqa: S608 - table names
        f"(SELECT COUNT(*) FROM {lo}), (SELECT MAX(updated_at) FROM {lo}), "
        f"(SELECT COUNT(*) FROM {ob}), (SELECT MAX(updated_at) FROM {ob}), (SELECT COUNT(*) FROM {lt})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    # Hashed: PostgreSQL timestamps with time zone make the raw string longer than the column.
    return hashlib.sha1("-".join(str(v) for v in row).encode(), usedforsecurity=False).hexdigest()


def engine_catalog() -> Catalog:
    """The engine's catalog built from the database rows, rebuilt only when they change."""
    stamp = catalog_stamp()
    cached = _CATALOG_CACHE.get("db")
    if cached is not None and cached.stamp == stamp:
        return cached
    variants: dict[int, list[TextSpec]] = {}
    for v in LicenseText.objects.all():
        variants.setdefault(v.license_id, []).append(TextSpec(f"{v.license_id}:{v.name}", v.text))
    obligations: dict[int, list[ObligationSpec]] = {}
    for lo in LicenseObligation.objects.select_related("obligation"):
        obligations.setdefault(lo.license_id, []).append(ObligationSpec(lo.obligation.term, lo.clause, lo.quote))
    specs = []
    for lic in License.objects.active().select_related("component_of"):
        texts = [TextSpec(f"{lic.key}.txt", lic.text)] if lic.text.strip() else []
        specs.append(
            LicenseSpec(
                id=lic.key,
                name=lic.name,
                spdx=lic.spdx_id,
                family=lic.family,
                threat=lic.threat_group,
                aliases=tuple(lic.aliases or ()),
                names=tuple(lic.reference_names or ()),
                urls=tuple(lic.urls or ()),
                texts=tuple(texts + variants.get(lic.pk, [])),
                obligations=tuple(obligations.get(lic.pk, [])),
                component_of=lic.component_of.key if lic.component_of else "",
                notice=lic.notice,
                display=lic.display_attribution,
                naming_prefix=lic.naming_prefix,
                binds_output_trained=lic.binds_output_trained,
            )
        )
    catalog = Catalog.build(specs, stamp=stamp)
    _CATALOG_CACHE["db"] = catalog
    return catalog


# --- catalog editing (audited; re-analyses everything after commit) ---------------------------------
LICENSE_FIELDS = (
    "key", "spdx_id", "name", "family", "threat_group", "aliases", "reference_names", "urls", "text",
    "component_of", "notice", "display_attribution", "naming_prefix", "binds_output_trained", "is_active", "notes",
)  # fmt: skip


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in fields:
        value = getattr(obj, f)
        if hasattr(value, "pk"):
            value = value.pk
        if isinstance(value, str) and len(value) > 500:
            value = value[:200] + f"… ({len(value)} chars)"
        out[f] = value
    return out


def _after_catalog_change() -> None:
    from licenses import tasks

    tasks.reanalyse_all.delay_on_commit()


def save_license(*, actor: Any, data: dict[str, Any], license: License | None = None, reason: str = "") -> License:
    require_global(actor, "licenses.change_license" if license else "licenses.add_license")
    with transaction.atomic():
        lic = license or License()
        before = _snapshot(lic, LICENSE_FIELDS) if license else None
        for field, value in data.items():
            if field in LICENSE_FIELDS:
                setattr(lic, field, value)
        lic.full_clean()
        lic.save()
        record_event(
            actor=actor,
            action="license.update" if license else "license.create",
            target=lic,
            reason=reason,
            before=before,
            after=_snapshot(lic, LICENSE_FIELDS),
        )
        _after_catalog_change()
    return lic


def save_obligation(*, actor: Any, term: str, meaning: str, obligation: Obligation | None = None) -> Obligation:
    require_global(actor, "licenses.change_obligation" if obligation else "licenses.add_obligation")
    with transaction.atomic():
        ob = obligation or Obligation()
        before = {"term": ob.term, "meaning": ob.meaning} if obligation else None
        ob.term, ob.meaning = term.strip(), meaning
        ob.full_clean()
        ob.save()
        record_event(
            actor=actor,
            action="obligation.update" if obligation else "obligation.create",
            target=ob,
            before=before,
            after={"term": ob.term, "meaning": ob.meaning},
        )
        _after_catalog_change()
    return ob


def save_license_obligation(
    *, actor: Any, license: License, term: str, clause: str, quote: str, remove: bool = False
) -> LicenseObligation | None:
    """Attach (or detach) an obligation to a license, with its clause and quote."""
    require_global(actor, "licenses.change_license")
    with transaction.atomic():
        obligation, _ = Obligation.objects.get_or_create(term=term.strip())
        existing = LicenseObligation.objects.filter(license=license, obligation=obligation).first()
        before = {"term": term, "clause": existing.clause, "quote": existing.quote} if existing else None
        row: LicenseObligation | None
        if remove:
            if existing:
                existing.delete()
            row = None
            after = None
        else:
            row = existing or LicenseObligation(license=license, obligation=obligation)
            row.clause, row.quote = clause, quote
            row.save()
            after = {"term": term, "clause": clause, "quote": quote}
        License.objects.filter(pk=license.pk).update(updated_at=timezone.now())
        record_event(actor=actor, action="license.obligation", target=license, before=before, after=after)
        _after_catalog_change()
    return row


def seed_catalog_if_empty() -> bool:
    """Load licenses/data into an empty catalog (the seed migration's code); True when it did."""
    if License.objects.exists():
        return False
    import importlib

    from django.apps import apps

    importlib.import_module("licenses.migrations.0002_seed_catalog").seed(apps, None)
    return True
