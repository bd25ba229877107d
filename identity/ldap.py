"""LDAP / Active Directory sign-in (ldap3, pure Python): the password form binds to the directory.

On when `MODELGATE_LDAP_SERVER_URI` is set. The user's entry is found by binding directly with a DN
template (`uid={username},ou=people,…`, or `{username}@corp.example` for Active Directory), or by a search
with a service account followed by a bind as the entry found. Its groups (a search under
`MODELGATE_LDAP_GROUP_SEARCH_BASE`, or the entry's `memberOf`) go through `MODELGATE_LDAP_GROUP_MAP` (same
syntax as the OIDC map) into identity.directory: just-in-time user, roles and memberships, audit.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import ldap3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from identity.choices import MembershipSource
from identity.directory import DirectoryIdentity, LoginRefused, load_group_map, login_from_directory

logger = logging.getLogger(__name__)


def _server() -> ldap3.Server:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if settings.MODELGATE_LDAP_VERIFY_SSL else ssl.CERT_NONE)
    return ldap3.Server(
        settings.MODELGATE_LDAP_SERVER_URI, tls=tls, connect_timeout=settings.MODELGATE_LDAP_TIMEOUT, get_info=None
    )


def _connect(dn: str, password: str) -> ldap3.Connection | None:
    """A bound connection as `dn`, or None when the directory refuses the password."""
    conn = ldap3.Connection(
        _server(), user=dn, password=password, receive_timeout=settings.MODELGATE_LDAP_TIMEOUT, raise_exceptions=False
    )
    conn.open()
    if settings.MODELGATE_LDAP_START_TLS:
        conn.start_tls()
    if not conn.bind():
        conn.unbind()
        return None
    return conn


def _first(entry: dict[str, Any], attribute: str) -> str:
    value = entry.get(attribute)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def _group_name(dn: str, attributes: dict[str, Any]) -> str:
    if settings.MODELGATE_LDAP_GROUP_NAME == "dn":
        return dn
    cn = _first(attributes, "cn")
    if cn:
        return cn
    rdn = parse_dn(dn)[0] if dn else ("", "", "")
    return str(rdn[1])


class LDAPBackend(BaseBackend):
    """authenticate(username, password) against the directory; permissions stay ModelBackend's."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kw: Any) -> Any:
        if not settings.MODELGATE_LDAP_SERVER_URI or not username or not password:
            return None
        try:
            found = self._bind_user(username, password)
        except LDAPException as exc:
            logger.error("LDAP sign-in of %r failed: %s", username, exc)
            return None
        if found is None:
            return None
        dn, attributes, groups = found
        names = settings.MODELGATE_LDAP_ATTRIBUTES
        identity = DirectoryIdentity(
            source=MembershipSource.LDAP,
            issuer=settings.MODELGATE_LDAP_SERVER_URI,
            subject=dn.lower(),
            username=_first(attributes, names.get("username", "uid")) or username,
            email=_first(attributes, names.get("email", "mail")),
            first_name=_first(attributes, names.get("first_name", "givenName")),
            last_name=_first(attributes, names.get("last_name", "sn")),
            groups=tuple(groups),
        )
        try:
            return login_from_directory(
                identity,
                group_map=load_group_map("MODELGATE_LDAP_GROUP_MAP", settings.MODELGATE_LDAP_GROUP_MAP),
                allow_unmapped=settings.MODELGATE_LDAP_ALLOW_UNMAPPED,
                provider="your directory",
            )
        except LoginRefused as refused:
            logger.info("LDAP sign-in of %r refused: %s", username, refused)
            if request is not None:
                request.modelgate_sso_refusal = str(refused)
            return None

    def get_user(self, user_id: Any) -> Any:
        """The session's user, unless deactivated since it signed in."""
        user_model = get_user_model()
        user = user_model.objects.filter(pk=user_id, is_active=True).first()
        return user

    def _bind_user(self, username: str, password: str) -> tuple[str, dict[str, Any], list[str]] | None:
        attrs = [*settings.MODELGATE_LDAP_ATTRIBUTES.values(), "memberOf"]
        template = settings.MODELGATE_LDAP_USER_DN_TEMPLATE
        if template:
            conn = _connect(template.format(username=escape_rdn(username)), password)
            if conn is None:
                return None
            # Read our own entry (an AD "user@domain" bind is not a DN: find the entry by the filter).
            base = settings.MODELGATE_LDAP_USER_SEARCH_BASE or template.format(username=escape_rdn(username))
            scope = ldap3.SUBTREE if settings.MODELGATE_LDAP_USER_SEARCH_BASE else ldap3.BASE
            flt = settings.MODELGATE_LDAP_USER_FILTER.format(username=escape_filter_chars(username))
            conn.search(base, flt if scope == ldap3.SUBTREE else "(objectClass=*)", scope, attributes=attrs)
        else:
            service = _connect(settings.MODELGATE_LDAP_BIND_DN, settings.MODELGATE_LDAP_BIND_PASSWORD)
            if service is None:
                raise LDAPException("the service account (MODELGATE_LDAP_BIND_DN) could not bind")
            flt = settings.MODELGATE_LDAP_USER_FILTER.format(username=escape_filter_chars(username))
            service.search(settings.MODELGATE_LDAP_USER_SEARCH_BASE, flt, ldap3.SUBTREE, attributes=["1.1"])
            entries = [e for e in service.response or [] if e.get("type") == "searchResEntry"]
            service.unbind()
            if len(entries) != 1:
                return None  # unknown (or ambiguous) user: same answer as a wrong password
            conn = _connect(entries[0]["dn"], password)
            if conn is None:
                return None
            conn.search(entries[0]["dn"], "(objectClass=*)", ldap3.BASE, attributes=attrs)
        try:
            results = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            if len(results) != 1:
                return None
            dn, attributes = results[0]["dn"], dict(results[0]["attributes"])
            return dn, attributes, self._groups(conn, dn, attributes)
        finally:
            conn.unbind()

    def _groups(self, conn: ldap3.Connection, dn: str, attributes: dict[str, Any]) -> list[str]:
        base = settings.MODELGATE_LDAP_GROUP_SEARCH_BASE
        if not base:
            member_of = attributes.get("memberOf") or []
            return [_group_name(g, {}) for g in member_of]
        flt = settings.MODELGATE_LDAP_GROUP_FILTER.format(user_dn=escape_filter_chars(dn))
        conn.search(base, flt, ldap3.SUBTREE, attributes=["cn"])
        return [
            _group_name(e["dn"], dict(e["attributes"]))
            for e in conn.response or []
            if e.get("type") == "searchResEntry"
        ]
