"""Effective license, obligations and conflicts, per the resolution rules in licenses/data/README.md.

1. Own license = the observed license text(s) when present (the text governs; code-vs-weights files
   are ANDed), else the declared expression, else — weak — what references name, else `unknown`.
2. Effective = own AND every inherited expression (bases transitively, trained-on-outputs).
3. Obligations = union over the effective expression; for an OR, the lightest option.
4. Conflicts (human-readable): declared ≠ shipped text, two texts for one scope, a derivative
   weaker than its base, the Llama naming requirement unmet, share-alike broken / incompatible terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from licenses.engine.catalog import UNKNOWN_IDS, Catalog
from licenses.engine.declared import Declared, Expr, ids_of, make, parse_tree, render
from licenses.engine.inherit import Inherited
from licenses.engine.observed import Evidence

# How heavy an obligation is when choosing the lightest option of an OR.
TERM_WEIGHT = {
    "research-only": 40,
    "non-production": 40,
    "non-commercial": 35,
    "no-redistribution": 30,
    "no-derivatives": 25,
    "no-commercial-use-of-output": 20,
    "network-copyleft": 15,
    "copyleft": 12,
    "share-alike": 10,
    "no-output-for-training-other-models": 8,
    "use-restrictions": 6,
    "flow-down": 5,
    "remote-restriction": 5,
    "naming-requirement": 4,
    "acceptance-required": 2,
}
RESTRICTIVE = {
    "non-commercial",
    "research-only",
    "non-production",
    "use-restrictions",
    "no-derivatives",
    "no-redistribution",
}
SCOPE_ORDER = {"main": 0, "model": 1, "code": 2}
SOFTWARE_THREATS = {"permissive", "weak-copyleft", "copyleft"}


def term_weight(term: str) -> int:
    base = term.split(":", 1)[0]
    if base in ("user-threshold", "revenue-threshold", "geo-restriction"):
        return 6
    return TERM_WEIGHT.get(base, 1)


@dataclass
class Resolution:
    own: str | None
    effective: str
    effective_ids: list[str]
    reason: str
    obligations: list[str]
    conflicts: list[str] = field(default_factory=list)
    weak: bool = False
    own_source: str = ""  # text | declared | reference | none
    scopes: dict[str, str] = field(default_factory=dict)  # {"weights": expr, "code": expr} when they differ


def obligations_of(catalog: Catalog, tree: Expr | None, extra_ids: list[str] | None = None) -> list[str]:
    terms = _terms(catalog, tree)
    for lid in extra_ids or []:
        terms.extend(t for t in catalog.terms(lid) if t not in terms)
    return sorted(dict.fromkeys(terms), key=lambda t: (-term_weight(t), t))


def _terms(catalog: Catalog, tree: Expr | None) -> list[str]:
    if tree is None:
        return []
    if isinstance(tree, str):
        return list(catalog.terms(tree))
    op, children = tree
    options = [_terms(catalog, c) for c in children]
    if op == "OR":
        return min(options, key=lambda ts: (sum(term_weight(t) for t in ts), len(ts)))
    out: list[str] = []
    for ts in options:
        out.extend(t for t in ts if t not in out)
    return out


def _name_ok(model_name: str, prefix: str) -> bool:
    norm = re.sub(r"[\s_\-.]+", "", model_name.lower())
    return norm.startswith(re.sub(r"[\s_\-.]+", "", prefix.lower()))


def resolve(
    catalog: Catalog,
    *,
    declared: Declared,
    observed: list[Evidence],
    inherited: list[Inherited],
    repo_id: str = "",
    derivative_relations: list[str] | None = None,
) -> Resolution:
    conflicts: list[str] = []
    reasons: list[str] = []
    governing = [e for e in observed if e.governs]
    texts = [e for e in governing if e.is_text and e.license not in UNKNOWN_IDS]
    texts = [e for e in texts if not (catalog.licenses.get(e.license) and catalog.licenses[e.license].is_policy)]
    if declared.link_path:
        linked = [e for e in texts if e.path == declared.link_path]
        if linked:
            texts = linked + [e for e in texts if e.path != declared.link_path]
    policies = [e for e in governing if e.match == "policy"]
    decl_ids = [i for i in declared.ids if i not in UNKNOWN_IDS]
    _scope_split(catalog, texts)
    code_refs = [e for e in governing if e.scope == "code" and e.match == "reference" and e.license not in UNKNOWN_IDS]

    # --- own license -------------------------------------------------------------------------
    own_tree: Expr | None
    weak = False
    by_scope: dict[str, list[Evidence]] = {}
    for e in sorted(texts, key=lambda e: (SCOPE_ORDER.get(e.scope, 0), e.path)):
        by_scope.setdefault(e.scope, []).append(e)
    text_ids = list(dict.fromkeys(e.license for e in sorted(texts, key=lambda e: SCOPE_ORDER.get(e.scope, 0))))
    if texts:
        own_source = "text"
        if (
            declared.tree is not None
            and isinstance(declared.tree, tuple)
            and declared.tree[0] == "OR"
            and set(text_ids) <= set(decl_ids)
        ):
            own_tree = declared.tree  # the shipped texts are the options the card offers
            reasons.append(f"own license {render(own_tree)}: the card's choice, and the repo ships those texts")
        else:
            own_tree = make("AND", list(text_ids))
            where = "; ".join(f"{e.path} ({e.license}, {e.match} {e.score:.2f})" for e in texts[:4])
            reasons.append(f"own license {render(own_tree)} from the shipped text ({where}) — the text governs")
        for scope, evs in by_scope.items():
            ids = list(dict.fromkeys(e.license for e in evs if not e.terms))
            if len(ids) > 1 and not set(ids) <= set(decl_ids):
                conflicts.append(
                    f"two different license texts for the same scope ({scope}): "
                    + ", ".join(f"{e.license} in {e.path}" for e in evs if not e.terms)
                )
        code_ids = {e.license for e in texts if e.scope == "code"} | {e.license for e in code_refs}
        declares_code_only = bool(decl_ids) and set(decl_ids) <= code_ids and any(e.scope != "code" for e in texts)
        custom_declared = declared.tree is not None and not decl_ids  # `other`/`unknown`: the text says which
        if declared.tree is not None and not declares_code_only and not custom_declared:
            for e in texts:
                if e.scope == "code" and len(by_scope) > 1:
                    continue
                if e.terms:
                    conflicts.append(
                        f"{e.path} adds a rider to the license text ({', '.join(e.terms)}): it is not the "
                        f"standard {e.license.removeprefix('LicenseRef-').removesuffix('-rider')} license the card "
                        "declares"
                    )
                    continue
                if e.license not in decl_ids:
                    shown = (
                        declared.expression
                        if declared.expression != "other"
                        else f"other ({declared.name or 'unnamed'})"
                    )
                    conflicts.append(
                        f"declared {shown} but {e.path} is the {e.license} text ({e.match}, score {e.score:.2f})"
                    )
        elif declares_code_only:
            reasons.append(f"the card declares {declared.expression}, the license of the code only")
    elif declared.tree in ("other", "unknown") and _identified(catalog, governing):
        # Custom terms named nowhere in the metadata but identified by the gate prompt, a notice/link or a
        # scoped statement about the weights.
        own_source = "declared"
        ident = _identified(catalog, governing)
        own_tree = make("AND", [e.license for e in ident])
        where = "; ".join(f"{e.path}:{e.start_line} ({e.detail or e.match})" for e in ident[:3])
        reasons.append(f"own license {render(own_tree)}: declared `other`, identified by {where}")
    elif declared.tree is not None:
        own_source = "declared"
        own_tree = declared.tree
        label = (
            f"{declared.expression} ({declared.name})"
            if declared.name and declared.expression == "other"
            else declared.expression
        )
        reasons.append(
            f"own license {label} as declared in the card{' tags' if declared.source == 'tags' else ''}"
            " (no license text shipped)"
        )
    else:
        refs = [e for e in governing if e.match in ("reference", "gated-prompt") and e.license not in UNKNOWN_IDS]
        refs = [e for e in refs if e.scope != "code"]  # "the code is MIT" says nothing about the weights
        ref_ids = list(dict.fromkeys(_parent(catalog, e.license) for e in refs))
        ref_ids += [i for i in dict.fromkeys(_parent(catalog, e.license) for e in policies) if i not in ref_ids]
        if ref_ids:
            own_source = "reference"
            weak = True
            own_tree = make("AND", ref_ids)
            where = "; ".join(f"{e.path}:{e.start_line} ({e.detail or e.match})" for e in (refs or policies)[:3])
            reasons.append(
                f"own license {render(own_tree)} only from references ({where})"
                " — weak evidence, no text, nothing declared"
            )
        elif custom := [e for e in governing if e.license == "other" and e.match in ("reference", "modified")]:
            own_source = "text"
            own_tree = "other"
            reasons.append(
                f"own license other: {', '.join(e.path for e in custom[:3])} holds terms that match no catalog text"
            )
        else:
            own_source = "none"
            own_tree = "unknown"
            reasons.append("no license declared, shipped or referenced: unknown")
    # The code's license from a scope statement in prose ("the code is Apache-2.0"), when no code text is shipped.
    scopes: dict[str, str] = {}
    code_text_ids = [e.license for e in texts if e.scope == "code"]
    code_ids_list = list(dict.fromkeys(code_text_ids or [e.license for e in code_refs]))
    if code_ids_list and own_tree is not None:
        weights_tree = own_tree
        if code_text_ids:
            weights_tree = make("AND", [i for i in ids_of(own_tree) if i not in code_text_ids]) or own_tree
        else:
            own_tree = make("AND", [own_tree, *code_ids_list])
            where = "; ".join(f"{e.path}:{e.start_line}" for e in code_refs[:2])
            reasons.append(f"AND {' AND '.join(code_ids_list)} for the code, as the card says ({where})")
        scopes = {"weights": render(weights_tree) or "unknown", "code": render(make("AND", code_ids_list)) or ""}
        reasons.append(f"scopes: the weights are {scopes['weights']} (it governs use of the model), the code "
                       f"{scopes['code']}")  # fmt: skip
    own_ids = ids_of(own_tree)

    # --- inheritance -------------------------------------------------------------------------
    inherited_trees: list[Expr] = []
    for inh in inherited:
        tree = parse_tree(catalog, inh.license) or "unknown"
        inherited_trees.append(tree)
        how = "outputs" if inh.relation == "outputs" else (inh.relation or "base")
        reasons.append(f"AND {inh.license} inherited from {inh.from_} ({how}{', weak: name only' if inh.weak else ''})")
    effective_tree = make("AND", [own_tree, *inherited_trees]) or "unknown"
    if (
        isinstance(effective_tree, tuple)
        and "unknown" in ids_of(effective_tree)
        and own_tree == "unknown"
        and not inherited_trees
    ):
        effective_tree = "unknown"
    effective_ids = ids_of(effective_tree)

    # AUP / usage policy shipped for a different license than the one that applies
    for e in policies:
        parent = _parent(catalog, e.license)
        if parent and own_ids and parent not in effective_ids and own_ids != ["unknown"] and parent not in decl_ids:
            conflicts.append(
                f"{e.path} is the {e.license} policy, a component of {parent}, but the license is {render(own_tree)}"
            )

    # (c) derivative weaker than an inherited license
    if own_source in ("text", "declared", "reference") and not set(own_ids) & UNKNOWN_IDS:
        own_rank = max((catalog.rank(i) for i in own_ids), default=0)
        for inh, tree in zip(inherited, inherited_trees, strict=True):
            for lid in ids_of(tree):
                if lid in UNKNOWN_IDS or lid in own_ids:
                    continue
                if catalog.rank(lid) > own_rank:
                    conflicts.append(
                        f"{render(own_tree)} ({catalog.threat(own_ids[0])}) is weaker than "
                        f"{lid} ({catalog.threat(lid)}) "
                        f"inherited from {inh.from_}: the base's terms still bind this derivative"
                    )
    # Llama naming requirement (derivatives that are distributed: fine-tunes, adapters, merges, output-trained)
    relations = derivative_relations or []
    model_name = repo_id.rsplit("/", 1)[-1]
    naming_done: set[str] = set()
    for inh, tree in zip(inherited, inherited_trees, strict=True):
        if inh.relation == "quantized":
            continue
        for lid in ids_of(tree):
            spec = catalog.licenses.get(lid)
            if (
                spec
                and spec.naming_prefix
                and lid not in naming_done
                and model_name
                and not _name_ok(model_name, spec.naming_prefix)
            ):
                naming_done.add(lid)
                conflicts.append(
                    f"{lid} naming requirement unmet: a model built from it must be named beginning with "
                    f"“{spec.naming_prefix}”, but this one is “{model_name}”"
                )
    del relations
    # (d) incompatible terms in the effective expression
    eff_terms = {lid: set(catalog.terms(lid)) for lid in effective_ids}
    # The code's license and the weights' apply to different things: their terms do not collide.
    code_only = set(parse_ids(scopes.get("code"))) - set(parse_ids(scopes.get("weights")))
    for lid, terms in eff_terms.items():
        if lid in code_only:
            continue
        if "share-alike" in terms and lid not in own_ids and own_source != "none" and not set(own_ids) & UNKNOWN_IDS:
            conflicts.append(
                f"share-alike broken: adaptations of {lid} must be licensed under {lid}, "
                f"but this derivative is licensed {render(own_tree)}"
            )
        if "share-alike" in terms:
            others = [
                o
                for o in effective_ids
                if o != lid and o not in UNKNOWN_IDS and o not in code_only and catalog.threat(o) != "permissive"
            ]
            if others:
                conflicts.append(
                    f"share-alike broken: {lid} requires adaptations under the same license, "
                    f"but {', '.join(others)} also apply"
                )
        if "no-derivatives" in terms and (inherited and lid not in own_ids):
            conflicts.append(f"{lid} forbids sharing adapted material, but this model is a derivative of it")
        if "copyleft" in terms and catalog.threat(lid) == "copyleft":
            restricted = [
                o for o in effective_ids if o != lid and o not in code_only and eff_terms.get(o, set()) & RESTRICTIVE
            ]
            if restricted:
                conflicts.append(
                    f"{lid} forbids further restrictions, but {', '.join(restricted)} add use/commercial restrictions"
                )
    for inh in inherited:
        if inh.relation == "outputs" and "no-output-for-training-other-models" in catalog.terms(inh.license):
            conflicts.append(
                f"trained on outputs of a {inh.license} model, which {inh.license} forbids for improving other models "
                f"({inh.detail})"
            )
    obligations = obligations_of(catalog, effective_tree, [e.license for e in policies])
    return Resolution(
        own=render(own_tree),
        effective=render(effective_tree) or "unknown",
        effective_ids=effective_ids,
        reason="; ".join(reasons),
        obligations=obligations,
        conflicts=list(dict.fromkeys(conflicts)),
        weak=weak,
        own_source=own_source,
        scopes=scopes,
    )


def parse_ids(expression: str | None) -> list[str]:
    """Ids of a rendered expression (scopes hold rendered expressions of canonical ids)."""
    return [t for t in re.split(r"[\s()]+", expression or "") if t and t not in ("AND", "OR")]


def _identified(catalog: Catalog, observed: list[Evidence]) -> list[Evidence]:
    """Evidence that names the custom (`other`) terms: the gate prompt, a NOTICE/LICENSE mention, or the README
    (its License section, a statement about the weights) — never a statement about the code only."""
    out: dict[str, Evidence] = {}
    for e in observed:
        if e.license in UNKNOWN_IDS or e.license in out:
            continue
        spec = catalog.licenses.get(e.license)
        if spec is None or spec.is_policy:
            continue
        if e.match == "gated-prompt" or (e.match == "reference" and e.scope != "code"):
            out[e.license] = e
    return list(out.values())


def _scope_split(catalog: Catalog, texts: list[Evidence]) -> None:
    """A plain LICENSE beside a MODEL_LICENSE / LICENSE-MODEL: the software license there is the code's."""
    if not any(e.scope == "model" for e in texts):
        return
    for e in texts:
        if e.scope == "main" and catalog.threat(e.license) in SOFTWARE_THREATS and not e.terms:
            e.scope = "code"


def _parent(catalog: Catalog, license_id: str) -> str:
    spec = catalog.licenses.get(license_id)
    return spec.component_of if spec and spec.component_of else license_id
