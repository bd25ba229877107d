import pytest

from licenses import services
from tests.licenses.repos import make_version, text

pytestmark = pytest.mark.django_db


def test_catalog_seeded():
    from licenses.models import License, Obligation

    assert License.objects.filter(key="llama2").exists()
    assert Obligation.objects.filter(term="user-threshold:700M").exists()
    cat = services.engine_catalog()
    assert cat.resolve_alias("Apache-2.0") == "apache-2.0"


def test_apache_over_llama2(tmp_path):
    v = make_version(tmp_path, "acme/chat", card={"license": "apache-2.0"}, files={"LICENSE": text("llama2")})
    a = services.analyse_version(version_id=v.pk)
    assert a.state == "done", a.error
    assert a.effective == "llama2"
    assert a.conflict


def test_seed_catalog_if_empty_restores_a_flushed_catalog():
    from licenses.models import License, LicenseObligation

    n = License.objects.count()
    assert services.seed_catalog_if_empty() is False
    LicenseObligation.objects.all().delete()
    License.objects.all().delete()
    assert services.seed_catalog_if_empty() is True
    assert License.objects.count() == n and License.objects.get(key="llama2-aup").component_of.key == "llama2"
