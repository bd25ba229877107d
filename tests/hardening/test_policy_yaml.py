"""Issue 11, item 4: policy YAML — alias bombs refused; the API export is real YAML."""

from __future__ import annotations

import itertools
import time

import pytest
import yaml
from rest_framework.test import APIClient

from policies import services
from policies.models import Policy

pytestmark = pytest.mark.django_db


def _bomb(levels: int) -> str:
    """The published "billion laughs" YAML (9 levels = 588 bytes, 9**9 strings), as one policy's description."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, name in itertools.pairwise(names[: levels + 1]):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    last = names[levels]
    lines.append(f"policies: [{{name: Bomb, threat_level: 1, description: *{last}}}]")
    return "\n".join(lines) + "\n"


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_classic_billion_laughs_is_refused_fast(architect):
    classic = _bomb(8)  # a..i: the 9-level document of the literature
    assert len(classic.split("\npolicies")[0]) <= 600
    started = time.monotonic()
    response = _api(architect).post("/api/v1/policies/import/", {"yaml": classic}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "aliases" in str(response.json())
    assert time.monotonic() - started < 2
    assert not Policy.objects.filter(name="Bomb").exists()


def test_smaller_bomb_under_the_alias_count_is_refused_by_its_expanded_size(architect):
    """5 levels use 45 aliases (under the count) but expand to 9**6 = 531441 strings."""
    response = _api(architect).post("/api/v1/policies/import/", {"yaml": _bomb(5)}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "expands to more than" in str(response.json())
    assert not Policy.objects.filter(name="Bomb").exists()


def test_page_import_refuses_the_bomb(client_for, architect):
    response = client_for(architect).post("/policies/import/", {"text": _bomb(8)})
    assert response.status_code in (200, 400)
    assert b"aliases" in response.content
    assert not Policy.objects.filter(name="Bomb").exists()


def test_oversized_yaml_is_refused(architect):
    text = "policies:\n" + "# padding\n" * 120_000
    response = _api(architect).post("/api/v1/policies/import/", {"yaml": text}, format="json")
    assert response.status_code == 400 and "limited to" in str(response.json())


def test_the_default_pack_with_its_anchors_still_loads():
    """The pack shares `actions: *critical` through aliases: legitimate use stays within the limits."""
    assert len(services.parse_policy_yaml(services.DEFAULT_PACK.read_text())) >= 5


@pytest.mark.slow  # the whole default pack out and back in (~2.3 s)
def test_api_export_is_yaml_that_imports_back(architect):
    """The default pack (loaded at migrate) exported through the API and imported back unchanged."""
    api = _api(architect)
    before = {p.name: p.threat_level for p in Policy.objects.all()}
    assert before
    response = api.get("/api/v1/policies/export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    text = response.content.decode()
    assert not text.startswith('"')  # not a JSON-quoted string
    assert sorted(p["name"] for p in yaml.safe_load(text)["policies"]) == sorted(before)
    Policy.objects.all().delete()
    again = api.post("/api/v1/policies/import/", {"yaml": text}, format="json")
    assert again.status_code == 201, again.content[:300]
    assert {p.name: p.threat_level for p in Policy.objects.all()} == before
