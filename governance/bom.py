"""CycloneDX 1.6 ML-BOM of a model version or of an application (the versions it uses).

Built with cyclonedx-python-lib (components, purls, hashes, licenses, evidence, pedigree,
vulnerabilities) and completed with the parts the library does not model yet — the `modelCard`
of each `machine-learning-model` component and the `data` of each dataset component — before
the result is validated against the official 1.6 schema the library ships.

Mapping:
- a version → component `machine-learning-model`, purl `pkg:huggingface/<ns>/<name>@<commit>`,
  its files as nested `file` components with their SHA-256;
- licenses: declared (card) and concluded (the reviewer's conclusion, else the resolved
  effective license) with their `acknowledgement`; observed licenses (license texts found in
  files) as `evidence.licenses` with the files as occurrences;
- base models → `pedigree.ancestors` (relation as a property);
- datasets → components of type `data` referenced from `modelCard.modelParameters.datasets`;
- violations → `vulnerabilities` (VEX): waived ones `exploitable` + `will_not_fix` (risk accepted
  until the waiver expires, with its reason), open ones `in_triage`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement, LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import is_supported_id
from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from packageurl import PackageURL

from core.permissions import organization_scope
from inventory.models import Application, BaseModelLink, ModelFile, ModelVersion
from licenses.models import License, LicenseAnalysis, LicenseConclusion, LicenseEvidence
from policies.models import Violation

SCHEMA = SchemaVersion.V1_6
SEVERITY = {
    "critical": VulnerabilitySeverity.CRITICAL,
    "severe": VulnerabilitySeverity.HIGH,
    "moderate": VulnerabilitySeverity.MEDIUM,
    "low": VulnerabilitySeverity.LOW,
    "none": VulnerabilitySeverity.INFO,
}
_COMPOUND = re.compile(r"\s(AND|OR|WITH)\s|[()]")


def purl_of(repo_id: str, commit: str | None = None) -> PackageURL:
    namespace, _, name = repo_id.rpartition("/")
    return PackageURL(
        type="huggingface", namespace=namespace or None, name=name, version=commit.lower() if commit else None
    )


def _site(path: str) -> str:
    return settings.MODELGATE_SITE_URL.rstrip("/") + path


@dataclass
class _Licensing:
    """What the licenses app knows about one version (read, never recomputed here)."""

    declared: str = ""
    effective: str = ""
    concluded: str = ""
    observed: list[tuple[str, str, str]] = field(default_factory=list)  # (license key, path, match)


@dataclass
class _Context:
    spdx: dict[str, str]  # catalog key → SPDX id (when the catalog has one)
    licensing: dict[int, _Licensing]
    violations: dict[int, list[Any]]
    datasets: dict[str, Component] = field(default_factory=dict)
    data_parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # bom-ref → "data" entry (added after)
    model_cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # bom-ref → modelCard (added after)


def versions_for_bom(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """Everything a BOM reads, in a fixed number of queries."""
    lookups: list[Any] = [
        Prefetch("files", queryset=ModelFile.objects.order_by("path")),
        Prefetch("base_links", queryset=BaseModelLink.objects.select_related("base__latest_version")),
        "datasets",
    ]
    return qs.select_related("model").prefetch_related(*lookups)


def _load_context(versions: list[ModelVersion], application: Application | None) -> _Context:

    ids = [v.pk for v in versions]
    licensing: dict[int, _Licensing] = {vid: _Licensing() for vid in ids}
    for vid, declared, effective in LicenseAnalysis.objects.filter(version_id__in=ids).values_list(
        "version_id", "declared", "effective"
    ):
        licensing[vid].declared, licensing[vid].effective = declared, effective
    for vid, key, path, match in (
        LicenseEvidence.objects.filter(analysis__version_id__in=ids, layer="observed")
        .order_by("path", "id")
        .values_list("analysis__version_id", "license_key", "path", "match")
    ):
        licensing[vid].observed.append((key, path, match))
    # The deciding conclusion nearest to the context: the application, its organizations, then everywhere.
    scopes: list[tuple[int | None, int | None]] = [(None, None)]
    if application is not None:
        org_ids = [application.organization_id, *[o.pk for o in application.organization.ancestors()][::-1]]
        scopes = [(application.pk, None), *[(None, o) for o in org_ids], (None, None)]
    conclusions = LicenseConclusion.objects.filter(
        version_id__in=ids, status__in=["selected", "overridden", "confirmed"]
    ).order_by("-created_at", "-id")
    found: dict[int, dict[tuple[int | None, int | None], str]] = {}
    for vid, app_id, org_id, expression in conclusions.values_list(
        "version_id", "application_id", "organization_id", "license_expression"
    ):
        found.setdefault(vid, {}).setdefault((app_id, org_id), expression)
    for vid, by_scope in found.items():
        for scope in scopes:
            if by_scope.get(scope):
                licensing[vid].concluded = by_scope[scope]
                break
    keys = {k for lic in licensing.values() for k in _keys(lic.declared, lic.effective, lic.concluded)}
    keys |= {key for lic in licensing.values() for key, _, _ in lic.observed}
    spdx = {k: s for k, s in License.objects.filter(key__in=keys).values_list("key", "spdx_id") if s}
    violations: dict[int, list[Any]] = {vid: [] for vid in ids}
    vqs = Violation.objects.filter(version_id__in=ids, state__in=["open", "waived"]).select_related(
        "policy", "waiver__reason", "application"
    )
    vqs = vqs.filter(application=application) if application is not None else vqs.filter(application__isnull=True)
    for v in vqs.order_by("-policy__threat_level", "policy__name", "id"):
        violations[v.version_id].append(v)
    return _Context(spdx=spdx, licensing=licensing, violations=violations)


def _keys(*expressions: str) -> set[str]:
    out: set[str] = set()
    for expr in expressions:
        out |= {t for t in re.split(r"\s+|[()]", expr or "") if t and t not in ("AND", "OR", "WITH")}
    return out


def _license(key: str, ctx: _Context, ack: LicenseAcknowledgement | None = None) -> DisjunctiveLicense:
    spdx = ctx.spdx.get(key) or (key if is_supported_id(key) else None)
    if spdx and is_supported_id(spdx):
        return DisjunctiveLicense(id=spdx, acknowledgement=ack)
    return DisjunctiveLicense(name=key, acknowledgement=ack)


def _licenses(lic: _Licensing, ctx: _Context) -> tuple[list[Any], list[Property]]:
    """Declared and concluded licenses. CycloneDX allows either license objects or ONE expression:
    when an expression is compound, the concluded one is given and the declared one goes in a property."""
    concluded = lic.concluded or lic.effective
    props = []
    if lic.effective and lic.effective != concluded:
        props.append(Property(name="modelgate:license:effective", value=lic.effective))
    if lic.concluded:
        props.append(Property(name="modelgate:license:concluded-by", value="reviewer"))
    compound = any(_COMPOUND.search(e or "") for e in (lic.declared, concluded))
    if compound:
        chosen = concluded or lic.declared
        ack = LicenseAcknowledgement.CONCLUDED if concluded else LicenseAcknowledgement.DECLARED
        if concluded and lic.declared:
            props.append(Property(name="modelgate:license:declared", value=lic.declared))
        return [LicenseExpression(chosen, acknowledgement=ack)], props
    out: list[Any] = []
    if lic.declared:
        out.append(_license(lic.declared, ctx, LicenseAcknowledgement.DECLARED))
    if concluded:
        out.append(_license(concluded, ctx, LicenseAcknowledgement.CONCLUDED))
    return out, props


def _dataset_component(dataset: Any, ctx: _Context) -> Component:
    ref = f"dataset:{dataset.repo_id}"
    if ref not in ctx.datasets:
        namespace, _, name = dataset.repo_id.rpartition("/")
        props = [Property(name="modelgate:dataset:flag", value=flag) for flag in dataset.flags or []]
        ctx.datasets[ref] = Component(
            type=ComponentType.DATA,
            name=name,
            group=namespace or None,
            bom_ref=ref,
            licenses=[_license(dataset.license, ctx)] if dataset.license else None,
            properties=props or None,
            description=dataset.notes or None,
        )
        entry: dict[str, Any] = {"type": "dataset", "name": dataset.repo_id}
        if namespace:
            entry["contents"] = {"url": f"{settings.HF_ENDPOINT.rstrip('/')}/datasets/{dataset.repo_id}"}
        ctx.data_parts[ref] = entry
    return ctx.datasets[ref]


def _card_sections(markdown: str) -> dict[str, str]:
    """First paragraph under each heading of the card body, by lower-cased heading."""
    sections: dict[str, str] = {}
    heading = None
    for line in markdown.splitlines():
        m = re.match(r"^#{1,4}\s+(.+?)\s*#*$", line)
        if m:
            heading = m.group(1).strip().lower()
            continue
        if heading and line.strip() and heading not in sections:
            sections[heading] = line.strip()[:1000]
    return sections


def _model_card(version: ModelVersion, dataset_refs: list[str]) -> dict[str, Any]:
    card = version.card_data or {}
    params: dict[str, Any] = {}
    task = card.get("pipeline_tag") or version.model.pipeline_tag
    if task:
        params["task"] = str(task)
    if version.model.library_name or card.get("library_name"):
        params["architectureFamily"] = str(card.get("library_name") or version.model.library_name)
    if dataset_refs:
        params["datasets"] = [{"ref": ref} for ref in dataset_refs]
    considerations: dict[str, list[Any]] = {}
    for heading, text in _card_sections(version.card_markdown or "").items():
        if "intended" in heading or heading.startswith("use"):
            considerations.setdefault("useCases", []).append(text)
        elif "limitation" in heading:
            considerations.setdefault("technicalLimitations", []).append(text)
        elif "bias" in heading or "risk" in heading or "ethic" in heading:
            considerations.setdefault("ethicalConsiderations", []).append({"name": text})
    out: dict[str, Any] = {}
    if params:
        out["modelParameters"] = params
    if considerations:
        out["considerations"] = considerations
    props = []
    for key in ("language", "tags", "license_name", "base_model_relation"):
        value = card.get(key)
        if value:
            props.append(
                {
                    "name": f"huggingface:card:{key}",
                    "value": json.dumps(value) if isinstance(value, list | dict) else str(value),
                }
            )
    if props:
        out["properties"] = props
    return out


def _model_component(version: ModelVersion, ctx: _Context) -> Component:
    model = version.model
    ref = f"model:{model.repo_id}@{version.commit}"
    namespace, _, name = model.repo_id.rpartition("/")
    lic = ctx.licensing.get(version.pk, _Licensing())
    licenses, props = _licenses(lic, ctx)
    props += [
        Property(name="modelgate:review-status", value=version.review_status),
        Property(name="modelgate:url", value=_site(version.get_absolute_url())),
    ]
    if version.scan_verdict:
        props.append(Property(name="modelgate:scan-verdict", value=version.scan_verdict))
    files = [
        Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"{ref}#{f.path}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)] if f.sha256 else None,
            properties=[Property(name="modelgate:size", value=str(f.size))],
        )
        for f in version.files.all()
    ]
    evidence = None
    if lic.observed:
        evidence = ComponentEvidence(
            licenses=[_license(key, ctx) for key in dict.fromkeys(k for k, _, _ in lic.observed)],
            occurrences=[
                Occurrence(location=path, additional_context=f"{key} ({match})") for key, path, match in lic.observed
            ],
        )
    ancestors = [
        Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=link.base.name,
            group=link.base.repo_id.rpartition("/")[0] or None,
            bom_ref=f"{ref}:base:{link.base.repo_id}",
            purl=purl_of(link.base.repo_id, link.base.latest_version.commit if link.base.latest_version else None),
            properties=[Property(name="modelgate:relation", value=link.relation)],
        )
        for link in version.base_links.all()
    ]
    dataset_refs = [str(_dataset_component(d, ctx).bom_ref.value) for d in version.datasets.all()]
    ctx.model_cards[ref] = _model_card(version, dataset_refs)
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        group=namespace or None,
        version=version.commit,
        bom_ref=ref,
        purl=purl_of(model.repo_id, version.commit) if model.source == "hub" else None,
        licenses=licenses or None,
        hashes=None,
        components=files or None,
        evidence=evidence,
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        properties=props,
        description=(version.card_data or {}).get("model_name") or None,
    )


def _vulnerabilities(version: ModelVersion, ref: str, ctx: _Context) -> list[Vulnerability]:
    out = []
    now = timezone.now()
    for v in ctx.violations.get(version.pk, []):
        policy = v.policy
        band = policy.band
        if v.state == "waived" and v.waiver is not None:
            w = v.waiver
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.EXPLOITABLE,
                responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
                detail=f"Waived until {w.expires_at:%Y-%m-%d} ({w.reason}). {w.comment}".strip(),
                first_issued=w.decided_at or w.requested_at,
                last_updated=w.decided_at or now,
            )
        else:
            analysis = VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE, first_issued=v.first_seen_at)
        out.append(
            Vulnerability(
                bom_ref=f"violation:{v.pk}",
                id=f"MODELGATE-POLICY-{policy.pk}",
                source=VulnerabilitySource(name="Modelgate policy", url=XsUri(_site(v.get_absolute_url()))),
                ratings=[
                    VulnerabilityRating(
                        score=policy.threat_level,
                        severity=SEVERITY.get(band),
                        method=None,
                        justification=f"threat level {policy.threat_level} ({band})",
                    )
                ],
                description=f"{policy.name} ({policy.category})",
                detail=policy.description or None,
                created=v.first_seen_at,
                analysis=analysis,
                affects=[BomTarget(ref=ref)],
                properties=[Property(name="modelgate:category", value=policy.category)],
            )
        )
    return out


def _serialize(bom: Bom, ctx: _Context) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())

    def complete(component: dict[str, Any]) -> None:
        ref = component.get("bom-ref", "")
        if component.get("type") == "machine-learning-model" and ref in ctx.model_cards:
            component["modelCard"] = ctx.model_cards[ref]
        if component.get("type") == "data" and ref in ctx.data_parts:
            component["data"] = [ctx.data_parts[ref]]
        for child in component.get("components", []):
            complete(child)

    for vuln in data.get("vulnerabilities", []):  # the library writes Decimal scores as strings
        for rating in vuln.get("ratings", []):
            if isinstance(rating.get("score"), str):
                rating["score"] = float(rating["score"])
    if "component" in data.get("metadata", {}):
        complete(data["metadata"]["component"])
    for component in data.get("components", []):
        complete(component)
    return data


def _tools_meta(subject: Component) -> BomMetaData:
    return BomMetaData(component=subject, supplier=OrganizationalEntity(name="Modelgate"), timestamp=timezone.now())


def sees_root_context(user: Any) -> bool:
    """Root-context violations are inventory-wide: a global role sees them, a membership role does not."""
    return organization_scope(user, "policies.view_violation") is None


def version_bom(version: ModelVersion, *, with_violations: bool = True) -> dict[str, Any]:
    """The ML-BOM of one version (its violations in the root context, unless `with_violations` is off)."""
    version = versions_for_bom(ModelVersion.objects.filter(pk=version.pk)).get()
    ctx = _load_context([version], None)
    if not with_violations:
        ctx.violations = {}
    component = _model_component(version, ctx)
    bom = Bom(metadata=_tools_meta(component))
    for dataset in ctx.datasets.values():
        bom.components.add(dataset)
        bom.register_dependency(component, [dataset])
    for vuln in _vulnerabilities(version, str(component.bom_ref.value), ctx):
        bom.vulnerabilities.add(vuln)
    return _serialize(bom, ctx)


def application_bom(application: Application) -> dict[str, Any]:
    """The ML-BOM of an application: every version it uses (violations in its context)."""
    versions = list(
        versions_for_bom(ModelVersion.objects.filter(usages__application=application)).order_by("model__repo_id", "id")
    )
    ctx = _load_context(versions, application)
    subject = Component(
        type=ComponentType.APPLICATION,
        name=application.name,
        bom_ref=f"application:{application.slug}",
        properties=[
            Property(name="modelgate:organization", value=str(application.organization)),
            Property(name="modelgate:url", value=_site(application.get_absolute_url())),
            *[Property(name=f"modelgate:use:{k}", value=str(v)) for k, v in application.use_profile().items()],
        ],
    )
    bom = Bom(metadata=_tools_meta(subject))
    models = []
    for version in versions:
        component = _model_component(version, ctx)
        models.append(component)
        bom.components.add(component)
        for vuln in _vulnerabilities(version, str(component.bom_ref.value), ctx):
            bom.vulnerabilities.add(vuln)
    for version, component in zip(versions, models, strict=True):
        deps = [ctx.datasets[f"dataset:{d.repo_id}"] for d in version.datasets.all()]
        if deps:
            bom.register_dependency(component, deps)
    for dataset in ctx.datasets.values():
        bom.components.add(dataset)
    bom.register_dependency(subject, models)
    return _serialize(bom, ctx)


def validate(data: dict[str, Any]) -> list[str]:
    """Errors against the official CycloneDX 1.6 JSON schema (strict); empty when valid."""
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SCHEMA).validate_str(json.dumps(data), all_errors=True)
    if errors is None:
        return []
    return [str(e) for e in errors]  # type: ignore[union-attr]


def filename(prefix: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', prefix).strip('-')}.cdx.json"
