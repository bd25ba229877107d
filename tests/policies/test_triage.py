"""The triage list: one row per version × policy, sorting, keyset pages, triage services and views."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from core.models import AuditAction, AuditEvent
from inventory.models import ApplicationModel
from policies import services, triage
from policies.choices import DismissReason
from policies.models import TriageComment, TriageItem, Violation
from tests import factories as f

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
URL = "/policies/violations/"


def _pair_world():
    """One version used by two applications, violating a policy in the root context and in both
    applications; a second policy only in the root context; a third pair fully resolved."""
    org = f.OrganizationFactory(name="Acme")
    apps = [f.ApplicationFactory(organization=org, name=n) for n in ("Chatbot", "Search")]
    version = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/shared"))
    for app in apps:
        ApplicationModel.objects.create(application=app, version=version)
    crit = f.PolicyFactory(name="Critical pickle", threat_level=9, category="security", conditions=[])
    low = f.PolicyFactory(name="Few downloads", threat_level=2, conditions=[])
    vs = [f.ViolationFactory(policy=crit, version=version)]
    vs += [f.ViolationFactory(policy=crit, version=version, application=a) for a in apps]
    vs.append(f.ViolationFactory(policy=low, version=version))
    other = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/other"))
    vs.append(f.ViolationFactory(policy=low, version=other, state="resolved", resolved_at=timezone.now()))
    return {"apps": apps, "version": version, "other": other, "crit": crit, "low": low, "violations": vs}


def _rows(qs, state="open", sort="-threat"):
    s, desc = triage.parse_sort(sort)
    groups, _, _ = triage.seek(
        triage.having_state(triage.grouped(triage.filter_state(qs, state), sort=s), state), s, desc
    )
    return triage.build_rows(triage.filter_state(qs, state), groups)


def test_one_row_per_version_and_policy_with_contexts_as_chips():
    w = _pair_world()
    rows = _rows(Violation.objects.all())
    assert [(r.policy.name, r.version.pk) for r in rows] == [
        ("Critical pickle", w["version"].pk),
        ("Few downloads", w["version"].pk),
    ]
    chips = [c.label for c in rows[0].contexts]
    assert chips == [triage.ROOT_LABEL, "Chatbot", "Search"]  # the inventory first, never as an organization
    assert rows[0].state == "open" and rows[0].threat == 9 and rows[0].band == "critical"
    assert triage.count_rows(Violation.objects.all(), "open") == 2
    assert triage.count_rows(Violation.objects.all(), "resolved") == 1
    assert triage.count_rows(Violation.objects.all(), "all") == 3


def test_row_state_open_if_any_open_else_waived_else_resolved():
    w = _pair_world()
    root, chat, search = w["violations"][:3]
    Violation.objects.filter(pk=root.pk).update(state="waived")
    assert _rows(Violation.objects.all())[0].state == "open"  # still open in two applications
    Violation.objects.filter(pk__in=[chat.pk, search.pk]).update(state="resolved", resolved_at=timezone.now())
    assert [r.policy.name for r in _rows(Violation.objects.all())] == ["Few downloads"]
    waived = _rows(Violation.objects.all(), state="waived")
    assert [(r.policy.name, r.state) for r in waived] == [("Critical pickle", "waived")]
    assert [c.label for c in waived[0].contexts] == [triage.ROOT_LABEL]  # resolved contexts are not chips here
    Violation.objects.filter(pk=root.pk).update(state="resolved")
    resolved = _rows(Violation.objects.all(), state="resolved")
    assert {r.policy.name for r in resolved} == {"Critical pickle", "Few downloads"}


_batches = itertools.count()


def _many(n: int = 23):
    b = next(_batches)
    policies = [f.PolicyFactory(name=f"P{b}-{i:02d}", threat_level=i % 4 + 1, conditions=[]) for i in range(4)]
    versions = [f.ModelVersionFactory(model=f.ModelFactory(repo_id=f"org{b}/m{i:02d}")) for i in range(n // 4 + 1)]
    made = 0
    for v in versions:
        for p in policies:
            if made == n:
                return
            f.ViolationFactory(policy=p, version=v, first_seen_at=timezone.now() - timedelta(days=made % 5))
            made += 1


@pytest.mark.parametrize("sort", ["-threat", "threat", "first_seen", "-first_seen", "model", "-model", "policy",
                                  "state", "due", "-due", "assignee", "-assignee"])  # fmt: skip
def test_keyset_pages_walk_every_row_once_forward_and_back(sort):
    _many()
    sort_key, desc = triage.parse_sort(sort)
    rows_qs = triage.having_state(triage.grouped(Violation.objects.open(), sort=sort_key), "open")
    expected = [(r["version_id"], r["policy_id"]) for r in rows_qs.order_by(*triage._order(sort_key, desc))]
    assert len(expected) == 23
    pages, after = [], ""
    while True:
        rows, nxt, prev = triage.seek(rows_qs, sort_key, desc, after=after, size=5)
        pages.append((rows, prev))
        if not nxt:
            break
        after = nxt
    walked = [(r["version_id"], r["policy_id"]) for rows, _ in pages for r in rows]
    assert walked == expected  # stable order, no row twice, none skipped
    assert [len(rows) for rows, _ in pages] == [5, 5, 5, 5, 3]
    assert pages[0][1] == "" and all(prev for _, prev in pages[1:])
    # Back from the last page with its "previous" cursor: the fourth page exactly.
    back, nxt, prev = triage.seek(rows_qs, sort_key, desc, before=pages[-1][1], size=5)
    assert [(r["version_id"], r["policy_id"]) for r in back] == expected[15:20] and nxt and prev


def test_sort_orders_by_the_column_with_stable_tie_breakers():
    _many()
    for sort, key in [
        ("-threat", lambda r: -r["threat"]),
        ("model", lambda r: r["repo"]),
        ("policy", lambda r: r["policy_name"]),
    ]:
        s, desc = triage.parse_sort(sort)
        rows, _, _ = triage.seek(triage.grouped(Violation.objects.all(), sort=s), s, desc, size=100)
        assert [key(r) for r in rows] == sorted(key(r) for r in rows)
    s, desc = triage.parse_sort("-threat")
    rows, _, _ = triage.seek(triage.grouped(Violation.objects.all(), sort=s), s, desc, size=100)
    ties = [(r["version_id"], r["policy_id"]) for r in rows if r["threat"] == 4]
    assert ties == sorted(ties, reverse=True)
    assert triage.parse_sort("nonsense") == (triage.SORTS["threat"], True)


def test_a_forged_cursor_is_refused():
    s = triage.SORTS["threat"]
    for token in ["", "!!", triage.encode_cursor(["x", 1, 2]), triage.encode_cursor([1, "a", 2])]:
        with pytest.raises(triage.BadCursor):
            triage.decode_cursor(token, s)
    assert triage.decode_cursor(triage.encode_cursor([3, 1, 2]), s) == (3, 1, 2)


def test_due_date_defaults_by_band_and_setting(settings):
    seen = timezone.now()
    assert triage.default_due(9, seen) == seen + timedelta(days=7)
    assert triage.default_due(5, seen) == seen + timedelta(days=30)
    assert triage.default_due(2, seen) == seen + timedelta(days=90)
    assert triage.default_due(1, seen) is None
    settings.MODELGATE_TRIAGE_DUE_DAYS = {"critical": "1"}
    assert triage.default_due(9, seen) == seen + timedelta(days=1) and triage.default_due(5, seen) is None


# --- services ------------------------------------------------------------------------------------------------


def test_assign_due_comment_dismiss_reopen_are_audited(architect, security, manager):
    w = _pair_world()
    version, policy = w["version"], w["crit"]
    services.assign_triage(user=architect, version=version, policy=policy, assignee=security)
    item = TriageItem.objects.get(version=version, policy=policy)
    assert item.assignee == security
    with pytest.raises(ValidationError):  # a manager reads but may not act: not assignable
        services.assign_triage(user=architect, version=version, policy=policy, assignee=manager)
    with pytest.raises(PermissionDenied):
        services.assign_triage(user=manager, version=version, policy=policy, assignee=security)
    services.set_triage_due(user=architect, version=version, policy=policy, due_on=date(2030, 1, 2))
    item.refresh_from_db()
    assert item.due_at is not None and item.due_at.date() == date(2030, 1, 2) and item.due_at.hour == 23
    services.comment_triage(user=security, version=version, policy=policy, text="Looks like a real pickle.")
    with pytest.raises(ValidationError):
        services.comment_triage(user=security, version=version, policy=policy, text="   ")
    with pytest.raises(ValidationError) as refused:
        services.dismiss_triage(
            user=security, version=version, policy=policy, reason=DismissReason.ACCEPTED_RISK, note="x"
        )
    assert "waiver" in str(refused.value)
    with pytest.raises(ValidationError):
        services.dismiss_triage(user=security, version=version, policy=policy, reason=DismissReason.DUPLICATE, note="")
    services.dismiss_triage(
        user=security, version=version, policy=policy, reason=DismissReason.DUPLICATE, note="same as #3"
    )
    item.refresh_from_db()
    assert item.is_dismissed and item.dismissed_by == security
    with pytest.raises(ValidationError):
        services.dismiss_triage(
            user=security, version=version, policy=policy, reason=DismissReason.DUPLICATE, note="again"
        )
    services.reopen_triage(user=security, version=version, policy=policy)
    item.refresh_from_db()
    assert not item.is_dismissed
    actions = list(AuditEvent.objects.for_object(item).order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.TRIAGE_ASSIGN, AuditAction.TRIAGE_DUE, AuditAction.TRIAGE_COMMENT,
                       AuditAction.TRIAGE_DISMISS, AuditAction.TRIAGE_REOPEN]  # fmt: skip
    # The violations themselves are untouched: a dismissal does not change what the gate answers.
    assert Violation.objects.filter(policy=policy, state="open").count() == 3


def test_services_refuse_a_pair_the_user_cannot_see(architect, security):
    w = _pair_world()
    policy = f.PolicyFactory(name="Unrelated", conditions=[])
    with pytest.raises(PermissionDenied):
        services.comment_triage(user=security, version=w["version"], policy=policy, text="hi")
    assert not TriageItem.objects.exists()


# --- views ----------------------------------------------------------------------------------------------------


def _row_ids(content: bytes) -> list[str]:
    return re.findall(r'id="violation-(\d+)"', content.decode())


def test_list_shows_one_row_per_problem_and_counts_it(client_for, security):
    _pair_world()
    c = client_for(security)
    page = c.get(URL)
    body = page.content.decode()
    assert page.status_code == 200 and len(_row_ids(page.content)) == 2
    assert '<strong id="row-count">2</strong>' in body
    assert "Chatbot" in body and "Search" in body and triage.ROOT_LABEL in body
    assert "Root context" not in body
    assert 'data-copy="#share-link"' in body  # a bookmarkable link to the filters and the sort
    partial = c.get(URL + "?state=all&sort=model", **HX)
    assert b"<html" not in partial.content and len(_row_ids(partial.content)) == 3
    assert b'aria-sort="ascending"' in partial.content
    assert b"2 open" in page.content  # the counters count problems too


def test_list_pages_with_cursors_in_the_url(client_for, security):
    _many(60)
    c = client_for(security)
    first = c.get(URL + "?sort=model")
    body = first.content.decode()
    assert len(_row_ids(first.content)) == triage.PAGE_SIZE
    nxt = re.search(r'rel="next" href="([^"]+)"', body).group(1).replace("&amp;", "&")
    assert "after=" in nxt and "sort=model" in nxt
    second = c.get(URL + nxt)
    assert len(_row_ids(second.content)) == 10
    assert not set(_row_ids(first.content)) & set(_row_ids(second.content))
    assert b'rel="prev"' in second.content and b'rel="next"' not in second.content
    bad = c.get(URL + "?after=garbage")
    assert bad.status_code == 200 and b"not valid" in bad.content


def test_list_query_count_does_not_grow_with_rows(client_for, security, django_assert_max_num_queries):
    _many(10)
    c = client_for(security)
    c.get(URL, **HX)
    _many(40)
    with django_assert_max_num_queries(16):
        assert c.get(URL, **HX).status_code == 200


def test_row_page_shows_evidence_policy_contexts_and_other_revisions(client_for, security):
    w = _pair_world()
    policy = w["crit"]
    policy.remediation = "Replace the pickle with safetensors."
    policy.save()
    run = f.ScanRunFactory(version=w["version"])
    f.FindingFactory(scan_run=run, rule="pickle.global.os_system", path="model.bin", evidence="os.system('id')")
    newer = f.ModelVersionFactory(model=w["version"].model)
    c = client_for(security)
    root = w["violations"][0]
    body = c.get(reverse("policies:violation_detail", args=[root.pk])).content.decode()
    assert "pickle.global.os_system" in body and "os.system(&#x27;id&#x27;)" in body
    assert "Replace the pickle with safetensors." in body
    assert reverse("policies:policy_detail", args=[policy.pk]) in body
    assert "Chatbot" in body and "Search" in body and triage.ROOT_LABEL in body
    assert f"{newer.short_commit}</a>" in body and "clean" in body


def test_triage_actions_htmx_and_plain(client_for, security):
    w = _pair_world()
    v = w["violations"][1]
    c = client_for(security)
    ok = c.post(reverse("policies:triage_assign", args=[v.pk]), {"assignee": security.pk}, **HX)
    assert ok.status_code == 200 and b'id="triage-panel"' in ok.content and b"<html" not in ok.content
    assert b"security" in ok.content
    bad = c.post(reverse("policies:triage_comment", args=[v.pk]), {"text": ""}, **HX)
    assert bad.status_code == 422 and b"This field is required" in bad.content and bad["HX-Retarget"] == "#triage-panel"
    refused = c.post(
        reverse("policies:triage_dismiss", args=[v.pk]), {"dismiss_reason": "accepted_risk", "note": "fine"}
    )  # JavaScript off: the whole page with the error in place
    assert refused.status_code == 422 and b"<html" in refused.content and b"request a waiver instead" in refused.content
    done = c.post(
        reverse("policies:triage_dismiss", args=[v.pk]), {"dismiss_reason": "false_positive", "note": "test file"}
    )
    assert done.status_code == 302 and done["Location"] == reverse("policies:violation_detail", args=[v.pk])
    assert TriageItem.objects.get().dismissed_reason == "false_positive"
    assert len(_row_ids(c.get(URL + "?dismissed=hide").content)) == 1
    assert len(_row_ids(c.get(URL + "?assignee=me").content)) == 1
    c.post(reverse("policies:triage_reopen", args=[v.pk]))
    assert not TriageItem.objects.get().is_dismissed


def test_managers_read_but_cannot_triage(client_for, manager):
    w = _pair_world()
    v = w["violations"][0]
    c = client_for(manager)
    assert c.get(URL).status_code == 200
    assert b'name="ids"' not in c.get(URL).content
    assert c.post(reverse("policies:triage_comment", args=[v.pk]), {"text": "hi"}).status_code == 403
    assert c.post(reverse("policies:violation_bulk_triage"), {"ids": [v.pk], "action": "assign"}).status_code in (
        302,
        403,
    )
    assert not TriageComment.objects.exists() and not TriageItem.objects.exists()


def test_bulk_triage_assign_due_and_dismiss(client_for, security, architect):
    w = _pair_world()
    ids = [w["violations"][0].pk, w["violations"][3].pk]
    c = client_for(architect)
    response = c.post(
        reverse("policies:violation_bulk_triage"), {"ids": ids, "action": "assign", "assignee": security.pk}
    )
    assert response.status_code == 302
    assert set(TriageItem.objects.values_list("assignee__username", flat=True)) == {"security"}
    assert TriageItem.objects.count() == 2
    c.post(reverse("policies:violation_bulk_triage"), {"ids": ids, "action": "due", "due_on": "2031-05-06"})
    assert {i.due_at.date() for i in TriageItem.objects.all()} == {date(2031, 5, 6)}
    bad = c.post(
        reverse("policies:violation_bulk_triage"), {"ids": ids, "action": "dismiss", "dismiss_reason": "accepted_risk"}
    )
    assert bad.status_code == 422 and b"request a waiver instead" in bad.content
    c.post(
        reverse("policies:violation_bulk_triage"),
        {"ids": ids, "action": "dismiss", "dismiss_reason": "duplicate", "note": "dup"},
    )
    assert TriageItem.objects.exclude(dismissed_reason="duplicate").count() == 0
    assert AuditEvent.objects.filter(action=AuditAction.TRIAGE_DISMISS).count() == 2
    nothing = c.post(reverse("policies:violation_bulk_triage"), {"action": "assign"})
    assert nothing.status_code == 422 and b"Select at least one row" in nothing.content
