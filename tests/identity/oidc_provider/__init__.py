"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit in its own Django project,
run in a second process by tests/identity/test_oidc.py (`python -m tests.identity.oidc_provider.serve`)."""
