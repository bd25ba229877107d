"""An administrator creates a CI token for an application in the browser, copies the GitHub Actions
snippet's gate command, and runs it in a shell with the standalone client: pass and fail, by exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.identity.conftest import clean_env
from tests.identity.test_reports import validate_sarif

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def test_token_created_in_the_browser_drives_the_snippet_command(page, live_server, gate_world, client_venv, tmp_path):
    w = gate_world
    page.goto("/accounts/login/")
    page.fill("#id_username", w["admin"].username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.mainnav")

    page.goto(w["app"].get_absolute_url())
    page.click("text=CI gate")
    page.wait_for_selector("h1:has-text('CI gate')")
    page.click("summary:has-text('Create a token')")
    page.fill("#id_name", "GitHub Actions: chatbot")
    page.click("#token-form button[type=submit]")
    secret = page.inner_text("#token-secret").strip()
    assert secret.startswith("mg_")
    snippet = page.inner_text("#snippet-github")
    page.reload()  # shown once: a later visit only shows the prefix
    assert secret not in page.content()

    workflow = yaml.safe_load(snippet)
    job = workflow["jobs"]["modelgate"]
    (step,) = [s for s in job["steps"] if s.get("name") == "Ask the Modelgate gate"]
    command = step["run"]
    assert command.startswith("modelgate gate ") and job["env"]["MODELGATE_URL"] == live_server.url

    versions = {f"{v.model.repo_id}@{v.commit}": (v, w[f"{n}_dir"], code) for n, v, code in
                [("good", w["good"], 0), ("bad", w["bad"], 1)]}  # fmt: skip
    assert job["env"]["MODEL"] in versions  # the snippet names a model the application uses
    for model, (_version, folder, expected) in versions.items():
        workdir = tmp_path / model.replace("/", "_")
        shutil.copytree(folder, workdir / job["env"]["MODEL_DIR"])
        # The job's env as the snippet declares it (MODEL swapped to run both models), the secret as CI would
        # inject it, and the client installed on the PATH.
        job_env = {k: str(v) for k, v in job["env"].items()} | {"MODEL": model, "MODELGATE_TOKEN": secret}
        env = clean_env(**job_env, PATH=f"{client_venv / 'bin'}{os.pathsep}/usr/bin:/bin")
        done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == expected, (model, done.stderr)
        report = json.loads((workdir / "modelgate.sarif").read_text())
        validate_sarif(report)
        assert bool(report["runs"][0]["results"]) is (expected == 1)
