"""Who may act where: organization memberships, and CI tokens.

A *membership* gives a user (or every member of a Django group, e.g. a team mirrored from a
directory) one role inside one organization's subtree. A role held as a Django group (core.roles)
stays global: platform owners keep seeing everything. How memberships narrow reads and actions is
core.permissions' business (the scope resolver registered in IdentityConfig.ready()).

CI tokens: named, scoped, expiring, revocable secrets a pipeline presents to the API.

Only the sha256 of a token is stored, next to a short visible prefix that identifies it in lists and
logs (`mg_<prefix>_<secret>`). A request authenticated by a token acts as `CIPrincipal`: its
creator's account, narrowed to the token's capability (gate or read) and scope (one organization
subtree or one application).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from core.permissions import RestrictedQuerySet
from core.roles import ORGANIZATION_ROLES
from identity.choices import Capability, MembershipSource, TokenState
from inventory.models import Application, Organization

# Reads a read token may make, by model: the lookup from that model to the application(s) it belongs
# to. A model not listed here is invisible to tokens (fail closed).
SCOPED_READS: dict[str, str] = {
    "inventory.application": "pk",
    "inventory.applicationmodel": "application",
    "inventory.modelversion": "usages__application",
    "inventory.model": "versions__usages__application",
    "inventory.modelfile": "version__usages__application",
    "scanning.scanrun": "version__usages__application",
    "scanning.finding": "scan_run__version__usages__application",
    "policies.violation": "application",
    "policies.approval": "version__usages__application",
}
GATE_PERMISSIONS = frozenset({"policies.use_gate"})


class CITokenQuerySet(RestrictedQuerySet["CIToken"]):
    def active(self) -> CITokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def for_list(self) -> CITokenQuerySet:
        return self.select_related("application", "organization", "created_by", "revoked_by")


class CIToken(models.Model):
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'GitHub Actions: chatbot release'.")
    prefix = models.CharField(max_length=16, unique=True, help_text="Visible part of the token: mg_<prefix>_…")
    secret_hash = models.CharField(max_length=64, help_text="sha256 (hex) of the whole token; the token is not kept.")
    capability = models.CharField(max_length=8, choices=Capability.choices, default=Capability.GATE)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="ci_tokens"
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="ci_tokens"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="ci_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    SCOPE = ("organization", "application__organization")
    objects = CITokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "CI token"
        permissions = [("revoke_citoken", "Can revoke a CI token")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=True) & Q(application__isnull=False))
                | (Q(organization__isnull=False) & Q(application__isnull=True)),
                name="identity_citoken_one_scope",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (mg_{self.prefix}_…)"

    def get_absolute_url(self) -> str:
        return reverse("identity:citoken_list") + f"#token-{self.pk}"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return TokenState.REVOKED.value
        if self.expires_at <= timezone.now():
            return TokenState.EXPIRED.value
        return TokenState.ACTIVE.value

    @property
    def scope(self) -> Application | Organization:
        scope = self.application or self.organization
        assert scope is not None  # the check constraint guarantees one of them
        return scope

    def application_ids(self) -> QuerySet[Application, int] | list[int]:
        """The applications inside this token's scope."""
        if self.application_id is not None:
            return [self.application_id]
        assert self.organization is not None
        return Application.objects.filter(organization_id__in=self.organization.descendant_ids()).values_list(
            "pk", flat=True
        )

    def covers_application(self, application: Application) -> bool:
        if self.application_id is not None:
            return application.pk == self.application_id
        assert self.organization is not None
        return application.organization_id in self.organization.descendant_ids()

    def allows_perm(self, perm: str) -> bool:
        """The token's capability: which permissions of its creator it may use at all."""
        if self.capability == Capability.GATE:
            return perm in GATE_PERMISSIONS
        app_label, _, codename = perm.partition(".")
        if not codename.startswith("view_"):
            return False
        return f"{app_label}.{codename.removeprefix('view_')}" in SCOPED_READS


class CIPrincipal(User):
    """The account a token request acts as: the creator's user row, narrowed by the token.

    A proxy of the user model so services that record who acted (audit, `imported_by`) keep working
    and name the token's creator. `has_perm` is the intersection of the creator's role and the token's
    capability; `narrow_queryset` (used by `RestrictedQuerySet.restrict`) keeps reads inside the scope.
    """

    ci_token: CIToken

    class Meta:
        proxy = True
        default_permissions = ()

    @classmethod
    def for_token(cls, token: CIToken) -> CIPrincipal:
        user = token.created_by
        assert user is not None
        principal = cls(**{f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields})
        principal._state.adding = False
        principal._state.db = user._state.db
        principal.ci_token = token
        return principal

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return self.ci_token.allows_perm(perm) and super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def narrow_queryset(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        lookup = SCOPED_READS.get(qs.model._meta.label_lower)
        if lookup is None:
            return qs.none()
        return qs.filter(**{f"{lookup}__in": list(self.ci_token.application_ids())}).distinct()


class MembershipQuerySet(RestrictedQuerySet["Membership"]):
    def for_user(self, user: Any) -> MembershipQuerySet:
        """Memberships the user holds directly or through one of its Django groups."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(user_id=user.pk) | Q(group__in=user.groups.all()))

    def for_list(self) -> MembershipQuerySet:
        return self.select_related("organization", "user", "group", "granted_by")


class Membership(models.Model):
    """One role inside one organization (and the organizations below it), for a user or a group."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        help_text="A team (a Django group that is not a role): every member holds the role.",
    )
    role = models.CharField(max_length=32, choices=[(r, r.capitalize()) for r in ORGANIZATION_ROLES])
    source = models.CharField(max_length=8, choices=MembershipSource.choices, default=MembershipSource.MANUAL)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    SCOPE = ("organization",)
    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organization__name", "role", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="identity_membership_user_or_group",
            ),
            models.UniqueConstraint(
                fields=["user", "organization", "role"],
                condition=Q(user__isnull=False),
                name="identity_membership_unique_user",
            ),
            models.UniqueConstraint(
                fields=["group", "organization", "role"],
                condition=Q(group__isnull=False),
                name="identity_membership_unique_group",
            ),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id and self.user else f"group {self.group}"
        return f"{who}: {self.role} in {self.organization}"

    @property
    def member(self) -> Any:
        return self.user if self.user_id else self.group


# --- Single sign-on: accounts linked to a directory (OIDC provider or LDAP server) -------------------------


class DirectoryAccount(models.Model):
    """A Modelgate user as known to a directory: its stable id there, and the global roles it granted.

    The subject (OIDC `sub` of one issuer, or an LDAP entry's DN) links later logins to the same user, so a
    renamed or re-mailed account stays one user. `granted_roles` lists the global roles (core.roles) the
    directory's groups granted: only those are removed when the groups go away, never roles an administrator
    granted in the app.
    """

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_accounts")
    source = models.CharField(max_length=8, choices=MembershipSource.choices)
    issuer = models.CharField(max_length=255, blank=True, help_text="OIDC issuer or LDAP server URI.")
    subject = models.CharField(max_length=255, help_text="OIDC `sub` claim or LDAP DN.")
    granted_roles = models.JSONField(default=list, blank=True)
    groups = models.JSONField(default=list, blank=True, help_text="The directory groups seen at the last login.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["source", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["source", "issuer", "subject"], name="identity_directoryaccount_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.subject}"
