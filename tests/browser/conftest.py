"""Browser fixtures (`browser`, `page`) live in tests/conftest.py so every app's tests can use them."""
