from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from core.models import AuditEvent
from policies import services
from policies.models import Violation, Waiver
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


def today():
    return timezone.now().date()


def _setup(**policy_kwargs):
    policy = make_policy(**policy_kwargs)
    version = make_version(downloads=10)
    services.evaluate_versions()
    return policy, version, Violation.objects.get()


def test_request_approve_waives_and_expiry_reopens(legal, security, reason):
    policy, version, violation = _setup()  # quality policy: either reviewer role decides
    waiver = services.request_waiver(
        user=legal,
        policy=policy,
        scope="version",
        version=version,
        expires_on=today() + timedelta(days=10),
        reason=reason,
        comment="accepted",
        source_violation=violation,
    )
    assert waiver.state == "pending" and waiver.expires_at.hour == 23 and waiver.expires_at.second == 59
    violation.refresh_from_db()
    assert violation.state == "open"
    services.decide_waiver(user=security, waiver=waiver, approve=True, comment="ok")
    violation.refresh_from_db()
    assert (violation.state, violation.waiver_id) == ("waived", waiver.pk)
    assert services.action_at(version=version, stage="release")[0] == "none"
    # idempotent re-evaluation keeps it waived
    services.evaluate_versions()
    violation.refresh_from_db()
    assert violation.state == "waived"
    # the waiver expires: the beat task reopens, audited as the system
    expired = services.expire_waivers(now=waiver.expires_at + timedelta(seconds=1))
    assert expired == [waiver.pk]
    violation.refresh_from_db()
    waiver.refresh_from_db()
    assert (waiver.state, violation.state) == ("expired", "open")
    event = AuditEvent.objects.get(action="waiver.expire")
    assert event.actor is None and event.actor_repr == "system" and event.extra["violations"] == [violation.pk]
    assert AuditEvent.objects.filter(action="waiver.request").exists()
    assert AuditEvent.objects.filter(action="waiver.approve", actor=security).exists()


def test_requester_cannot_decide(legal, reason):
    policy, version, _ = _setup()
    waiver = services.request_waiver(
        user=legal, policy=policy, scope="version", version=version, expires_on=today(), reason=reason
    )
    with pytest.raises(PermissionDenied):
        services.decide_waiver(user=legal, waiver=waiver, approve=True)


def test_category_roles_decide(legal, security, architect, reason):
    sec = make_policy("sec", fact="scan.state", operator="is", value="missing")
    assert sec.category == "security"
    version = make_version()
    waiver = services.request_waiver(
        user=architect, policy=sec, scope="version", version=version, expires_on=today(), reason=reason
    )
    with pytest.raises(PermissionDenied):
        services.decide_waiver(user=legal, waiver=waiver, approve=True)
    services.decide_waiver(user=security, waiver=waiver, approve=False, comment="no")
    waiver.refresh_from_db()
    assert waiver.state == "rejected"
    leg = make_policy("leg", fact="license.conflict", operator="is", value=True)
    waiver = services.request_waiver(
        user=architect, policy=leg, scope="version", version=version, expires_on=today(), reason=reason
    )
    with pytest.raises(PermissionDenied):
        services.decide_waiver(user=security, waiver=waiver, approve=True)
    services.decide_waiver(user=legal, waiver=waiver, approve=True)


def test_non_waivable_refused(architect, reason):
    policy, version, _ = _setup(non_waivable=True)
    with pytest.raises(ValidationError):
        services.request_waiver(
            user=architect, policy=policy, scope="version", version=version, expires_on=today(), reason=reason
        )


@pytest.mark.parametrize(
    ("threat", "days", "ok"),
    [(9, 30, True), (9, 31, False), (5, 90, True), (5, 91, False), (2, 365, True), (2, 366, False)],
)
def test_expiry_capped_by_band(architect, reason, threat, days, ok):
    policy, version, _ = _setup(threat_level=threat)
    call = lambda: services.request_waiver(  # noqa: E731
        user=architect,
        policy=policy,
        scope="version",
        version=version,
        expires_on=today() + timedelta(days=days),
        reason=reason,
    )
    if ok:
        assert call().pk
    else:
        with pytest.raises(ValidationError):
            call()


def test_expiry_required_and_not_in_past(architect, reason):
    policy, version, _ = _setup()
    with pytest.raises(ValidationError):
        services.request_waiver(
            user=architect,
            policy=policy,
            scope="version",
            version=version,
            expires_on=today() - timedelta(days=1),
            reason=reason,
        )


def test_scopes_and_owners(architect, security, reason):
    org = f.OrganizationFactory()
    app = f.ApplicationFactory(organization=f.OrganizationFactory(parent=org))
    other = f.ApplicationFactory()
    policy = make_policy()
    v1 = make_version(downloads=1)
    v2 = f.ModelVersionFactory(model=v1.model)
    v3 = make_version(downloads=1)
    from inventory.models import ApplicationModel

    for v in (v1, v2, v3):
        ApplicationModel.objects.create(application=app, version=v)
        ApplicationModel.objects.create(application=other, version=v)
    services.evaluate_versions()
    w = services.request_waiver(
        user=architect,
        policy=policy,
        scope="model",
        model=v1.model,
        owner="organization",
        organization=org,
        expires_on=today(),
        reason=reason,
    )
    services.decide_waiver(user=security, waiver=w, approve=True)
    waived = set(Violation.objects.filter(state="waived").values_list("version_id", "application_id"))
    assert waived == {(v1.pk, app.pk), (v2.pk, app.pk)}
    w2 = services.request_waiver(
        user=architect, policy=policy, scope="all", owner="root", expires_on=today(), reason=reason
    )
    services.decide_waiver(user=security, waiver=w2, approve=True)
    assert not Violation.objects.filter(state="open").exists()


def test_reminders_and_stale_report(architect, security, reason, settings, mailoutbox):
    settings.MODELGATE_WAIVER_REMINDER_DAYS = [7, 1]
    policy, version, _violation = _setup()
    w = services.request_waiver(
        user=architect,
        policy=policy,
        scope="version",
        version=version,
        expires_on=today() + timedelta(days=3),
        reason=reason,
    )
    now = timezone.now()
    assert services.waivers_due_for_reminder(now=now) == []  # pending: not in force
    services.decide_waiver(user=security, waiver=w, approve=True)
    assert services.waivers_due_for_reminder(now=now) == [w]
    assert services.mark_reminded(waiver=w, now=now) is True
    assert services.mark_reminded(waiver=w, now=now) is False  # a stale copy: another run recorded it first
    assert services.waivers_due_for_reminder(now=now) == []  # reminded once
    assert services.waivers_due_for_reminder(now=now + timedelta(hours=1)) == []
    w.refresh_from_db()
    assert services.waivers_due_for_reminder(now=w.expires_at - timedelta(hours=23)) == [w]  # the 1-day threshold
    assert not mailoutbox  # the policies app records facts; governance.notifications sends the mail
    assert not Waiver.objects.stale().exists()
    version.model.downloads = 10_000
    version.model.save()
    services.evaluate_versions()
    assert list(Waiver.objects.stale()) == [w]
