from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.choices import ReviewStatus
from inventory.models import ApplicationModel, ModelVersion
from licenses.models import License, LicenseConclusion, ObligationStatus
from tests.licenses.repos import mit, text

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_nav_names_resolve():
    for name in ["licenses:queue", "licenses:license_list", "licenses:obligation_list"]:
        assert reverse(name)


def test_queue_full_page_and_htmx_partial(
    client_for, legal, llama2_version, nc_version, mit_version, analysed, django_assert_max_num_queries
):
    for i in range(5):
        analysed(f"someone/unknown-{i}")
    c = client_for(legal)
    with django_assert_max_num_queries(12):
        r = c.get(reverse("licenses:queue"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "Legal review queue" in body and "acme/chat-7b" in body and "lab/research-7b" in body
    assert "acme/tiny" not in body  # permissive, clean: not queued
    assert body.index("someone/unknown-") < body.index("acme/chat-7b")  # unknown first
    r = c.get(reverse("licenses:queue"), {"conflict": "true"}, **HX)
    part = r.content.decode()
    assert "<html" not in part and 'id="results"' in part
    assert "acme/chat-7b" in part and "lab/research-7b" not in part
    r = c.get(reverse("licenses:queue"), {"needs_review": "false"})
    assert "acme/tiny" in r.content.decode()


def test_access_gate(client_for, nobody, manager, llama2_version):
    assert client_for(nobody).get(reverse("licenses:queue")).status_code == 403
    assert client_for(nobody).get(reverse("licenses:review", args=[llama2_version.pk])).status_code == 403
    c = client_for(manager)
    assert c.get(reverse("licenses:review", args=[llama2_version.pk])).status_code == 200
    r = c.post(reverse("licenses:conclude", args=[llama2_version.pk]), {"status": "confirmed", "comment": "x"})
    assert r.status_code == 403
    assert c.get(reverse("licenses:license_create")).status_code == 403


def test_review_page_shows_three_layers_and_fit(client_for, legal, llama2_version, app_commercial):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    r = client_for(legal).get(reverse("licenses:review", args=[llama2_version.pk]))
    body = r.content.decode()
    for words in [
        "Declared",
        "Observed",
        "Inherited",
        "Effective license",
        "declared apache-2.0 but LICENSE is the llama2",
        "USE_POLICY.md",
        "user-threshold:700M",
        "1.b.v",
        "Support bot",
        "use permitted",
        "Record conclusion",
    ]:
        assert words in body, words


def test_evidence_page_highlights_and_escapes(client_for, legal, analysed):
    v = analysed(
        "evil/model", card={"license": "mit"}, files={"LICENSE": "<script>alert(1)</script>\n\n" + text("apache-2.0")}
    )
    ev = v.license_analysis.evidence.get(path="LICENSE")
    assert ev.match == "exact" and "<script>" in ev.snippet
    r = client_for(legal).get(reverse("licenses:evidence", args=[ev.pk]))
    body = r.content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body
    assert 'class="hl"' in body and "score 1.00" in body
    r = client_for(legal).get(reverse("licenses:evidence", args=[ev.pk]), **HX)
    assert "<html" not in r.content.decode() and 'class="hl"' in r.content.decode()


def test_conclude_post_redirect_get_and_htmx(client_for, legal, llama2_version):
    c = client_for(legal)
    url = reverse("licenses:conclude", args=[llama2_version.pk])
    r = c.post(url, {"status": "confirmed", "comment": "Text governs."})
    assert r.status_code == 302 and r["Location"] == reverse("licenses:review", args=[llama2_version.pk])
    r = c.post(url, {"status": "overridden", "license_expression": "apache-2.0", "comment": "Bought licence"}, **HX)
    assert r.status_code == 200 and r["HX-Trigger"] == "license-concluded"
    assert "Bought licence" in r.content.decode() and "<html" not in r.content.decode()
    r = c.post(url, {"status": "selected", "license_expression": "gpl-3.0", "comment": "?"}, **HX)
    assert r.status_code == 422 and "overridden" in r.content.decode()
    assert LicenseConclusion.objects.filter(version=llama2_version).count() == 2


def test_checklist_page_and_update(client_for, legal, manager, llama2_version, app_commercial):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    url = reverse("licenses:checklist", args=[app_commercial.pk])
    assert "attribution-notice" in client_for(manager).get(url).content.decode()
    data = {
        "version": llama2_version.pk,
        "term": "attribution-notice",
        "status": "fulfilled",
        "owner": legal.pk,
        "note": "NOTICE added",
    }
    assert client_for(manager).post(url, data).status_code == 403
    r = client_for(legal).post(url, data, **HX)
    assert r.status_code == 200 and 'id="checklist"' in r.content.decode()
    assert ObligationStatus.objects.get().status == "fulfilled"
    r = client_for(legal).post(url, {**data, "status": "not_applicable"})
    assert r.status_code == 302


def test_attribution_report_and_notice_download(client_for, legal, llama2_version, app_commercial):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    c = client_for(legal)
    body = c.get(reverse("licenses:attribution", args=[app_commercial.pk])).content.decode()
    assert "Llama 2 is licensed under the LLAMA 2 Community License" in body and "Download NOTICE" in body
    assert "not in the NOTICE until approved" in body
    r = c.get(reverse("licenses:attribution_notice", args=[app_commercial.pk]))
    assert r["Content-Type"].startswith("text/plain") and "attachment" in r["Content-Disposition"]
    assert "acme/chat-7b" not in r.content.decode()  # never approved: not shipped, not in the NOTICE
    ModelVersion.objects.filter(pk=llama2_version.pk).update(review_status=ReviewStatus.APPROVED)
    r = c.get(reverse("licenses:attribution_notice", args=[app_commercial.pk]))
    assert "acme/chat-7b" in r.content.decode()


def test_notice_lists_only_approved_versions(client_for, legal, llama2_version, mit_version, app_commercial):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    ApplicationModel.objects.create(application=app_commercial, version=mit_version)
    ModelVersion.objects.filter(pk=mit_version.pk).update(review_status=ReviewStatus.APPROVED)
    ModelVersion.objects.filter(pk=llama2_version.pk).update(review_status=ReviewStatus.REJECTED)
    notice = client_for(legal).get(reverse("licenses:attribution_notice", args=[app_commercial.pk])).content.decode()
    assert f"acme/tiny @ {mit_version.commit}" in notice
    assert "acme/chat-7b" not in notice and "LLAMA 2" not in notice


def test_catalog_pages_and_edit(client_for, legal, manager):
    lic = License.objects.get(key="llama3")
    c = client_for(legal)
    assert "naming-requirement" in c.get(reverse("licenses:license_list")).content.decode()
    assert "Llama 3" in c.get(reverse("licenses:license_detail", args=[lic.pk])).content.decode()
    r = c.get(reverse("licenses:license_list"), {"q": "gemma"}, **HX)
    assert "gemma" in r.content.decode() and "<html" not in r.content.decode()
    form = c.get(reverse("licenses:license_edit", args=[lic.pk]))
    assert form.status_code == 200
    data = {
        "key": "llama3",
        "spdx_id": lic.spdx_id,
        "name": lic.name,
        "family": "llama",
        "threat_group": "ai-restricted",
        "aliases": "llama3\nllama-3",
        "reference_names": "meta llama 3 community license",
        "urls": "",
        "component_of": "",
        "notice": lic.notice,
        "display_attribution": "Built with Meta Llama 3",
        "naming_prefix": "Llama 3",
        "binds_output_trained": "",
        "is_active": "on",
        "notes": "",
        "text": lic.text,
        "reason": "tidy aliases",
    }
    r = c.post(reverse("licenses:license_edit", args=[lic.pk]), data)
    assert r.status_code == 302
    lic.refresh_from_db()
    assert lic.aliases == ["llama3", "llama-3"]
    r = c.post(reverse("licenses:license_obligation", args=[lic.pk]), {"term": "documentation-required", "clause": "9"})
    assert r.status_code == 302 and lic.license_obligations.filter(obligation__term="documentation-required").exists()
    r = c.post(reverse("licenses:obligation_list"), {"term": "no-military-use", "meaning": "no military use"})
    assert r.status_code == 302
    assert "no-military-use" in c.get(reverse("licenses:obligation_list")).content.decode()
    assert client_for(manager).post(reverse("licenses:obligation_list"), {"term": "x"}).status_code == 403


def test_version_panel_on_inventory_page(client_for, legal, llama2_version):
    r = client_for(legal).get(llama2_version.get_absolute_url())
    assert r.status_code == 200
    assert "Review licenses" in r.content.decode()


def test_reviewer_works_the_queue_end_to_end(client_for, legal, llama2_version, app_commercial):
    """Queue → review → evidence → conclude → checklist → attribution, following the pages' own links."""
    import re

    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    c = client_for(legal)
    queue = c.get(reverse("licenses:queue")).content.decode()
    review_url = reverse("licenses:review", args=[llama2_version.pk])
    assert f'href="{review_url}"' in queue
    review = c.get(review_url).content.decode()
    evidence_url = re.search(r'href="(/licenses/evidence/\d+/)"', review).group(1)
    assert 'class="hl"' in c.get(evidence_url, **HX).content.decode()
    r = c.post(
        reverse("licenses:conclude", args=[llama2_version.pk]),
        {"status": "confirmed", "comment": "Shipped Llama 2 text governs; card corrected upstream."},
        follow=True,
    )
    assert "Shipped Llama 2 text governs" in r.content.decode()
    assert f'href="{review_url}"' not in c.get(reverse("licenses:queue")).content.decode()
    checklist_url = reverse("licenses:checklist", args=[app_commercial.pk])
    assert checklist_url in review
    c.post(
        checklist_url,
        {
            "version": llama2_version.pk,
            "term": "attribution-notice",
            "status": "fulfilled",
            "owner": legal.pk,
            "note": "NOTICE in app bundle",
        },
    )
    ModelVersion.objects.filter(pk=llama2_version.pk).update(review_status=ReviewStatus.APPROVED)
    notice = c.get(reverse("licenses:attribution_notice", args=[app_commercial.pk])).content.decode()
    assert "Llama 2 is licensed under the LLAMA 2 Community License" in notice


def test_review_and_checklist_query_counts_do_not_grow(
    client_for, legal, llama2_version, org, django_assert_max_num_queries
):
    from tests.factories import ApplicationFactory

    apps = [ApplicationFactory(organization=org) for _ in range(6)]
    for app in apps:
        ApplicationModel.objects.create(application=app, version=llama2_version)
    c = client_for(legal)
    with django_assert_max_num_queries(30):
        assert c.get(reverse("licenses:review", args=[llama2_version.pk])).status_code == 200
    with django_assert_max_num_queries(20):
        assert c.get(reverse("licenses:checklist", args=[apps[0].pk])).status_code == 200
    with django_assert_max_num_queries(20):
        assert c.get(reverse("licenses:attribution", args=[apps[0].pk])).status_code == 200


def test_review_page_shows_scopes_and_third_party_notices(client_for, legal, analysed):
    version = analysed(
        "deepseek-ai/deepseek-coder-1.3b-base",
        card={"license": "other", "license_name": "deepseek", "license_link": "LICENSE-MODEL"},
        files={
            "LICENSE-CODE": mit("DeepSeek", "2023"),
            "LICENSE-MODEL": text("deepseek"),
            "NOTICE": mit("OpenAI", "2022"),
        },
    )
    body = client_for(legal).get(reverse("licenses:review", args=[version.pk])).content.decode()
    assert "the weights are <code>deepseek</code>" in body and "the code is <code>mit</code>" in body
    assert "third-party notice" in body
