"""OpenAPI: describe CI-token authentication (drf-spectacular registers the extension on import)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CITokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.CITokenAuthentication"
    name = "ciToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mg_<prefix>_<secret>",
            "description": "A CI token (Authorization: Bearer mg_… or Token mg_…): gate-only or read-only, scoped.",
        }
