"""Test-only control of the provider: register the client (with the relying party's redirect URI) and
create or update users and their groups. Guarded by a secret only the test process knows."""

from __future__ import annotations

import json
import os

from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import Application


@csrf_exempt
def setup(request: HttpRequest) -> HttpResponse:
    if request.headers.get("X-Test-Secret") != os.environ["OP_CONTROL_SECRET"]:
        return HttpResponseForbidden("no")
    data = json.loads(request.body)
    if "client" in data:
        client = data["client"]
        Application.objects.filter(client_id=client["client_id"]).delete()
        Application.objects.create(
            name="Modelgate",
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(client["redirect_uris"]),
            post_logout_redirect_uris=" ".join(client.get("post_logout_redirect_uris", [])),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
    for spec in data.get("users", []):
        user, _ = User.objects.get_or_create(username=spec["username"])
        user.set_password(spec["password"])
        user.email = spec.get("email", "")
        user.first_name = spec.get("first_name", "")
        user.last_name = spec.get("last_name", "")
        user.save()
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in spec.get("groups", [])])
    return JsonResponse({"ok": True})
