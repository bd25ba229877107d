"""Schemathesis over the whole API schema, in-process through the WSGI app: no operation may answer 5xx.

Every operation of `/api/v1/schema/` is exercised with a few generated requests as an administrator
(token auth). `SCHEMATHESIS_EXAMPLES` (default 3) sets the examples per operation.
"""

from __future__ import annotations

import os
import sys
import traceback

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.slow  # generated requests against every operation of the schema

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))


@pytest.fixture
def api_schema(db, admin_user):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # As Django's test client does: a request must not close the connection holding the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    token = Token.objects.create(user=admin_user)
    app = get_wsgi_application()
    headers = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", app, headers=headers)
    yield schema, headers
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_server_errors_anywhere_in_the_api(api_schema):
    from django.core.signals import got_request_exception

    schema, headers = api_schema
    failures: list[str] = []
    tracebacks: list[str] = []

    def record(sender, request=None, **kwargs):
        # The project's own frames (not the venv's) and the exception: enough to find the bug.
        frames = [f for f in traceback.extract_tb(sys.exc_info()[2]) if "/.venv/" not in f.filename]
        error = traceback.format_exception_only(*sys.exc_info()[:2])
        tracebacks.append("".join(traceback.format_list(frames[-6:]) + error))

    got_request_exception.connect(record)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:
        strategy = operation.as_strategy()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=strategy, _=st.just(None))
        def run(case, _):
            try:
                response = case.call(headers=headers)
            except Exception:
                failures.append(f"{case.method} {case.formatted_path} raised:\n{traceback.format_exc(limit=5)}")
                return
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} query={case.query} body={case.body!r} → "
                    f"{response.status_code}\n{tracebacks[-1] if tracebacks else response.text[:300]}"
                )

        run()
    got_request_exception.disconnect(record)
    assert not failures, "\n\n".join(failures[:20])
