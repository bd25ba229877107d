"""The kernel below every app: audit, access gate and roles, htmx/API/filter helpers, task convention, shared rules.

It imports no other app of the project (tests/test_layers.py walks the imports to keep it so).
"""
