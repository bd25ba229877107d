from __future__ import annotations

import json

from governance import bom
from inventory.models import ApplicationModel
from licenses.models import LicenseAnalysis, LicenseEvidence
from tests import factories as f
from tests.governance.conftest import make_policy, make_waiver

CARD = """# Tiny sentiment

## Intended use
Sentiment of English product reviews.

## Limitations
English only.

## Bias
Trained on movie reviews only.
"""


def _version(repo_id: str = "acme-research/tiny-sentiment"):
    model = f.ModelFactory(repo_id=repo_id, pipeline_tag="text-classification", library_name="transformers")
    version = f.ModelVersionFactory(
        model=model, card_markdown=CARD, card_data={"license": "apache-2.0", "tags": ["bert"], "language": ["en"]}
    )
    f.ModelFileFactory(version=version, path="model.safetensors")
    f.ModelFileFactory(version=version, path="README.md", sha256="", is_lfs=False)
    base = f.ModelFactory(repo_id="google-bert/bert-base-uncased")
    base_version = f.ModelVersionFactory(model=base)
    base.latest_version = base_version
    base.save()
    f.BaseModelLinkFactory(version=version, base=base, relation="finetune")
    ds = f.DatasetFactory(repo_id="stanfordnlp/imdb", flags=["bias"], license="other")
    version.datasets.add(ds)
    analysis = f.LicenseAnalysisFactory(
        version=version, declared="apache-2.0", effective="apache-2.0 AND llama2", threat_group="ai-restricted"
    )
    LicenseEvidence.objects.create(
        analysis=analysis, layer="observed", path="LICENSE", license_key="llama2", match="exact", score=1.0
    )
    return version


def test_version_bom_validates_and_maps_everything(db, legal):
    version = _version()
    policy = make_policy("Pickle", 9, "security")
    waived_policy = make_policy("Non-commercial", 5, "legal")
    f.ViolationFactory(policy=policy, version=version)
    waiver = make_waiver(waived_policy, version, comment="Internal research only")
    f.ViolationFactory(policy=waived_policy, version=version, state="waived", waiver=waiver)
    data = bom.version_bom(version)
    assert bom.validate(data) == [], json.dumps(data, indent=1)[:3000]
    assert data["specVersion"] == "1.6"
    model = data["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["purl"] == f"pkg:huggingface/acme-research/tiny-sentiment@{version.commit}"
    files = {c["name"]: c for c in model["components"]}
    assert files["model.safetensors"]["hashes"][0]["alg"] == "SHA-256"
    assert "hashes" not in files["README.md"]
    # The effective license is compound: one expression, concluded; the declared one as a property.
    assert model["licenses"] == [{"expression": "apache-2.0 AND llama2", "acknowledgement": "concluded"}]
    assert {"name": "modelgate:license:declared", "value": "apache-2.0"} in model["properties"]
    assert model["evidence"]["licenses"][0]["license"]["name"] == "llama2"
    assert model["evidence"]["occurrences"][0]["location"] == "LICENSE"
    ancestor = model["pedigree"]["ancestors"][0]
    assert ancestor["purl"].startswith("pkg:huggingface/google-bert/bert-base-uncased@")
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "text-classification"
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:stanfordnlp/imdb"}]
    assert card["considerations"]["useCases"] == ["Sentiment of English product reviews."]
    assert card["considerations"]["technicalLimitations"] == ["English only."]
    data_component = next(c for c in data["components"] if c["type"] == "data")
    assert data_component["data"][0] == {
        "type": "dataset",
        "name": "stanfordnlp/imdb",
        "contents": {"url": "https://huggingface.co/datasets/stanfordnlp/imdb"},
    }
    vulns = {v["id"]: v for v in data["vulnerabilities"]}
    waived = vulns[f"MODELGATE-POLICY-{waived_policy.pk}"]
    assert waived["analysis"]["state"] == "exploitable"
    assert waived["analysis"]["response"] == ["will_not_fix"]
    assert "Internal research only" in waived["analysis"]["detail"]
    assert vulns[f"MODELGATE-POLICY-{policy.pk}"]["analysis"]["state"] == "in_triage"
    assert vulns[f"MODELGATE-POLICY-{policy.pk}"]["ratings"][0]["severity"] == "critical"


def test_simple_licenses_are_declared_and_concluded_objects(db, legal):
    version = _version("acme/simple")
    LicenseAnalysis.objects.filter(version=version).update(effective="apache-2.0")
    f.LicenseConclusionFactory(
        version=version, status="overridden", license_expression="mit", comment="ok", created_by=legal
    )
    data = bom.version_bom(version)
    assert bom.validate(data) == []
    licenses = data["metadata"]["component"]["licenses"]
    assert {"license": {"id": "Apache-2.0", "acknowledgement": "declared"}} in licenses or any(
        lic["license"].get("acknowledgement") == "declared" for lic in licenses
    )
    concluded = [lic["license"] for lic in licenses if lic["license"].get("acknowledgement") == "concluded"]
    assert concluded and (concluded[0].get("id") == "MIT" or concluded[0].get("name") == "mit")


def test_application_bom_lists_every_used_version(db, django_assert_max_num_queries):
    app = f.ApplicationFactory(name="Support bot")
    versions = [_version("acme/one"), f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/two"))]
    for v in versions:
        ApplicationModel.objects.create(application=app, version=v)
    policy = make_policy("Pickle", 9)
    f.ViolationFactory(policy=policy, version=versions[1], application=app)
    f.ViolationFactory(policy=policy, version=versions[0])  # root context: not here
    data = bom.application_bom(app)
    assert bom.validate(data) == []
    assert data["metadata"]["component"]["type"] == "application"
    models = [c for c in data["components"] if c["type"] == "machine-learning-model"]
    assert [m["name"] for m in models] == ["one", "two"]
    assert len(data["vulnerabilities"]) == 1
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert len(deps["application:" + app.slug]) == 2


def test_validate_reports_schema_errors():
    assert bom.validate({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "nonsense"}]})
