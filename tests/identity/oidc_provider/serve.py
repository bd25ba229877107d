"""Run the test OpenID Connect provider: migrate its SQLite file, then serve HTTP on 127.0.0.1:OP_PORT.

`python -m tests.identity.oidc_provider.serve` with OP_PORT, OP_DB and OP_CONTROL_SECRET in the
environment (tests/identity/test_oidc.py's fixture sets them).
"""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.identity.oidc_provider.settings"
    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    app = get_wsgi_application()
    server = make_server(
        "127.0.0.1", int(os.environ["OP_PORT"]), app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    print("serving", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
