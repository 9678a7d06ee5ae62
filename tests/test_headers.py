"""Security headers: a Content-Security-Policy on every page, HSTS and the redirect to HTTPS
under HTTPS=1, and `manage.py check --deploy` clean in the production settings."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process, never in production)
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "handoff_site.settings",
        "HANDOFF_EMBEDDED": "0",
        "HANDOFF_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "-production-like-secret-key-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "desk.example",
        "HTTPS": "1",
        **extra,
    }
    return env


@pytest.mark.slow
def test_check_deploy_is_clean_in_the_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PROBE = """
import django; django.setup()
from django.test import Client
client = Client(HTTP_HOST="desk.example")
plain = client.get("/login/")
print("redirect", plain.status_code, plain["Location"])
print("healthz", client.get("/healthz").status_code)
secure = client.get("/healthz", secure=True)  # renders no static file: no manifest needed
print("hsts", secure.status_code, secure["Strict-Transport-Security"])
print("csp", secure["Content-Security-Policy"])
"""


@pytest.mark.slow
def test_https_redirects_plain_http_and_sends_hsts(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )

    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )

    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["redirect"] == "301 https://desk.example/login/", out.stdout + out.stderr
    assert lines["healthz"].startswith("200")  # a load balancer's probe speaks plain HTTP
    assert lines["hsts"] == "200 max-age=31536000; includeSubDomains"
    assert "upgrade-insecure-requests" in lines["csp"]


@pytest.mark.django_db
def test_every_page_has_a_policy_without_unsafe_script(client: Client) -> None:
    policy = client.get("/login/")["Content-Security-Policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["script-src"].startswith("'self'")
    assert "unsafe" not in directives["script-src"] and "unsafe" not in directives["default-src"]
    assert "unsafe" not in directives["style-src-elem"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def test_the_standalone_500_page_is_allowed_its_own_style_and_nothing_else() -> None:
    body = server_error(RequestFactory().get("/x/")).content.decode()
    styles = re.findall(r"<style>(.*?)</style>", body, re.S)
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()

    from django.conf import settings

    assert len(styles) == 1
    allowed = cast(list[str], settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src-elem"])
    assert f"'sha256-{digest}'" in allowed
