"""Licenses of base models that are not imported: what their Hub cards declare, through the Hub adapter, cached.

A placeholder base (named by `base_model`, never imported) used to pass down `unknown` unless its repo name
looked familiar. Its card usually names its license: we read the card metadata only (no files, no
ModelVersion), store it in a HubCardLicense row, and resolve the declared license with the catalog. Lookups
are cached for HUB_CARD_TTL (failures for HUB_ERROR_TTL, so an air-gapped installation does not wait on every
analysis); `MODELGATE_LICENSE_HUB_LOOKUP = False` turns them off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inventory.hub import GatedRepo, HubClient, HubError, RepoNotFound
from licenses.engine.catalog import Catalog
from licenses.engine.declared import declare, make, parse_tree, render
from licenses.models import HubCardLicense

log = logging.getLogger(__name__)

HUB_CARD_TTL = timedelta(days=7)
HUB_ERROR_TTL = timedelta(hours=1)
MAX_HUB_DEPTH = 3


@dataclass
class HubBaseLicense:
    expression: str
    source: str  # "Hub card of <repo>" (+ what its own bases pass down)


def lookups_enabled() -> bool:
    return settings.MODELGATE_LICENSE_HUB_LOOKUP


def hub_card(*, repo_id: str, refresh: bool = False) -> HubCardLicense:
    """The cached card metadata of `repo_id`, fetched through the Hub adapter when missing or stale."""
    row = HubCardLicense.objects.filter(repo_id=repo_id).first()
    now = timezone.now()
    if row is not None and not refresh:
        ttl = HUB_CARD_TTL if (row.found or not row.error) else HUB_ERROR_TTL
        if now - row.fetched_at < ttl:
            return row

    values: dict[str, object] = {"fetched_at": now, "error": "", "found": False}
    try:
        info = HubClient().card_info(repo_id)
    except (RepoNotFound, GatedRepo) as exc:
        values["error"] = ""  # the Hub answered: it does not show us this repo
        log.info("Hub card of %s: %s", repo_id, exc)
    except HubError as exc:
        values["error"] = str(exc)[:500] or type(exc).__name__
        log.warning("Hub card of %s not read: %s", repo_id, exc)
    else:
        card = info.card_data
        license_value = card.get("license")
        values.update(
            found=True,
            commit=info.commit,
            license=license_value if isinstance(license_value, (str, list)) else None,
            license_name=str(card.get("license_name") or "")[:200],
            license_link=str(card.get("license_link") or "")[:500],
            tags=[t for t in info.tags if isinstance(t, str)][:200],
            base_models=info.base_models[:8],
        )
    row, _ = HubCardLicense.objects.update_or_create(repo_id=repo_id, defaults=values)
    return row


def base_license_from_hub(*, catalog: Catalog, repo_id: str, _depth: int = 0) -> HubBaseLicense | None:
    """What a base that is not imported passes down, from its Hub card (and its own bases' cards); None when
    the Hub does not know either, or lookups are off."""
    if not lookups_enabled():
        return None
    row = hub_card(repo_id=repo_id)
    if not row.found:
        return None
    declared = declare(catalog, row.card(), list(row.tags or []))
    if not declared.expression or set(declared.ids) <= {"unknown"}:
        return None  # the card names no license: as good as not knowing
    trees = [declared.tree]
    sources = [f"Hub card of {repo_id}"]
    if _depth < MAX_HUB_DEPTH:
        for base in (row.base_models or [])[:4]:
            if base == repo_id:
                continue
            sub = base_license_from_hub(catalog=catalog, repo_id=base, _depth=_depth + 1)
            if sub is not None:
                trees.append(parse_tree(catalog, sub.expression))
                sources.append(sub.source)
    expression = render(make("AND", trees)) or declared.expression
    return HubBaseLicense(
        expression, sources[0] if len(sources) == 1 else f"{sources[0]} (with {'; '.join(sources[1:])})"
    )
