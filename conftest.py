"""Loaded before Django: test runs may use a real DATABASE_URL without a production SECRET_KEY."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("HANDOFF_VAR_DIR", os.path.join(os.path.dirname(__file__), "var", "test"))
