from __future__ import annotations

import pytest

from licenses import services
from tests.factories import ApplicationFactory, OrganizationFactory
from tests.licenses.repos import make_version, mit, text


@pytest.fixture(autouse=True)
def _catalog(request):
    """The seeded catalog, even after a transactional test elsewhere flushed the database."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and "db" not in request.fixturenames:
        return
    transactional = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    request.getfixturevalue("transactional_db" if transactional else "db")
    services.seed_catalog_if_empty()


@pytest.fixture
def repo(tmp_path):
    """make_version bound to this test's tmp folder."""

    def make(repo_id: str, **kwargs):
        return make_version(tmp_path, repo_id, **kwargs)

    return make


@pytest.fixture
def analysed(repo):
    def make(repo_id: str, **kwargs):
        version = repo(repo_id, **kwargs)
        services.analyse_version(version_id=version.pk)
        version.refresh_from_db()
        return version

    return make


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def app_commercial(org):
    return ApplicationFactory(
        organization=org, name="Support bot", slug="support-bot", commercial_use=True, monthly_active_users=50_000
    )


@pytest.fixture
def llama2_version(analysed):
    return analysed(
        "acme/chat-7b",
        card={"license": "apache-2.0"},
        files={"LICENSE": text("llama2"), "USE_POLICY.md": text("llama2-aup")},
    )


@pytest.fixture
def nc_version(analysed):
    return analysed("lab/research-7b", card={"license": "cc-by-nc-4.0"}, files={"LICENSE": text("cc-by-nc-4.0")})


@pytest.fixture
def mit_version(analysed):
    return analysed("acme/tiny", card={"license": "mit"}, files={"LICENSE": mit()})
