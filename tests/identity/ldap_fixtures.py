"""A real LDAP server for the LDAP sign-in tests: OpenLDAP's slapd (Debian package `slapd`, installed by
`make test`), started on a free 127.0.0.1 port with its own configuration and database in a temporary
folder, with the memberof overlay (Active Directory's `memberOf` attribute) and a small directory."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "ldap-admin-secret"  # a throwaway test server
PASSWORD = "ldap-user-password"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {tmp}/slapd.pid
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {tmp}/data
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
access to attrs=userPassword by self auth by anonymous auth by * none
access to * by * read
"""


@dataclass
class LDAPServer:
    uri: str

    def admin(self) -> ldap3.Connection:
        return ldap3.Connection(ldap3.Server(self.uri), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)

    def person(self, uid: str, *, mail: str = "") -> str:
        dn = f"uid={uid},ou=people,{BASE}"
        with self.admin() as conn:
            conn.delete(dn)
            attrs = {"uid": uid, "cn": uid.capitalize(), "givenName": uid.capitalize(), "sn": "Directory"}
            attrs |= {"mail": mail or f"{uid}@corp.example", "userPassword": PASSWORD}
            assert conn.add(dn, ["inetOrgPerson"], attrs), conn.result
        return dn

    def set_groups(self, dn: str, groups: list[str]) -> None:
        """Make `dn` a member of exactly `groups` (groupOfNames under ou=groups; created when missing)."""
        with self.admin() as conn:
            conn.search(f"ou=groups,{BASE}", "(objectClass=groupOfNames)", attributes=["cn", "member"])
            existing = {e.cn.value: e for e in conn.entries}
            for name in set(existing) | set(groups):
                group_dn = f"cn={name},ou=groups,{BASE}"
                members = {m.lower() for m in (existing[name].member.values if name in existing else [])}
                if name in groups and name not in existing:
                    # groupOfNames needs a member: the admin stands in for "nobody else".
                    assert conn.add(group_dn, ["groupOfNames"], {"cn": name, "member": [dn, ADMIN_DN]}), conn.result
                elif name in groups and dn.lower() not in members:
                    conn.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, [dn])]})
                elif name not in groups and dn.lower() in members:
                    conn.modify(group_dn, {"member": [(ldap3.MODIFY_DELETE, [dn])]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LDAPServer]:
    if not Path(SLAPD).exists():
        pytest.fail("slapd not found: `make test` installs Debian's slapd package for the LDAP tests")
    tmp = tmp_path_factory.mktemp("slapd")
    (tmp / "data").mkdir()
    conf = tmp / "slapd.conf"
    conf.write_text(CONFIG.format(tmp=tmp, base=BASE, admin=ADMIN_DN, password=ADMIN_PASSWORD))
    port = _free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = (tmp / "slapd.log").open("wb")
    process = subprocess.Popen([SLAPD, "-d", "0", "-h", f"{uri}/", "-f", str(conf)], stdout=log, stderr=log)
    server = LDAPServer(uri)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"slapd exited: {(tmp / 'slapd.log').read_text()[-3000:]}")
            try:
                conn = server.admin()
                break
            except ldap3.core.exceptions.LDAPException:
                if time.monotonic() > deadline:
                    pytest.fail(f"slapd did not start: {(tmp / 'slapd.log').read_text()[-3000:]}")
                time.sleep(0.2)
        with conn:
            conn.add(BASE, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
            conn.add(f"ou=people,{BASE}", ["organizationalUnit"], {"ou": "people"})
            conn.add(f"ou=groups,{BASE}", ["organizationalUnit"], {"ou": "groups"})
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
