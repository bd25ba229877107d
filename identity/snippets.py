"""CI snippets for the gate page: GitHub Actions (with the SARIF upload), GitLab CI, a plain shell.

Each uses the standalone client (`pip install ./client` from the Modelgate repository, or from an
internal index as `modelgate-client`) and reads the token from the MODELGATE_TOKEN secret.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class GateSnippetInput:
    site_url: str
    application: str  # slug
    model: str  # REPO_ID@REVISION
    stage: str = "build"


def _model_dir(model: str) -> str:
    repo_id = model.partition("@")[0]
    return "models/" + repo_id.replace("/", "--")


def gate_command(x: GateSnippetInput, *, report: str = "", fmt: str = "") -> str:
    cmd = f'modelgate gate "$MODEL" --stage {shlex.quote(x.stage)} --dir "$MODEL_DIR" --url "$MODELGATE_URL"'
    cmd += f" --application {shlex.quote(x.application)}"
    if fmt:
        cmd += f" --format {fmt}"
    if report:
        cmd += f" --output {report}"
    return cmd


def github_actions(x: GateSnippetInput) -> str:
    return f"""# .github/workflows/modelgate.yml
name: Model gate
on: [push, pull_request]
permissions:
  contents: read
  security-events: write  # upload the SARIF report to code scanning
jobs:
  modelgate:
    runs-on: ubuntu-latest
    env:
      MODELGATE_URL: {x.site_url}
      MODEL: {x.model}
      MODEL_DIR: {_model_dir(x.model)}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install modelgate-client huggingface_hub
      - name: Download the model revision
        run: huggingface-cli download "${{MODEL%@*}}" --revision "${{MODEL#*@}}" --local-dir "$MODEL_DIR"
      - name: Ask the Modelgate gate
        env:
          MODELGATE_TOKEN: ${{{{ secrets.MODELGATE_TOKEN }}}}
        run: {gate_command(x, fmt="sarif", report="modelgate.sarif")}
      - name: Show the findings in GitHub code scanning
        if: always()
        uses: github/codeql-action/upload-sarif@v3
        with:
          sarif_file: modelgate.sarif
          category: modelgate
"""


def gitlab_ci(x: GateSnippetInput) -> str:
    return f"""# .gitlab-ci.yml — set MODELGATE_TOKEN as a masked CI/CD variable
modelgate:
  stage: test
  image: python:3.12
  variables:
    MODELGATE_URL: {x.site_url}
    MODEL: {x.model}
    MODEL_DIR: {_model_dir(x.model)}
  script:
    - pip install modelgate-client huggingface_hub
    - huggingface-cli download "${{MODEL%@*}}" --revision "${{MODEL#*@}}" --local-dir "$MODEL_DIR"
    - {gate_command(x, fmt="junit", report="modelgate-junit.xml")}
  artifacts:
    when: always
    reports:
      junit: modelgate-junit.xml
"""


def shell(x: GateSnippetInput) -> str:
    return f"""# pip install modelgate-client   (or: pip install ./client from the Modelgate repository)
export MODELGATE_URL={shlex.quote(x.site_url)}
export MODELGATE_TOKEN=mg_…   # the token shown once when it was created
MODEL={shlex.quote(x.model)}
MODEL_DIR={shlex.quote(_model_dir(x.model))}   # a local_dir download or a Hugging Face cache snapshot
{gate_command(x)}
echo "gate exit status: $?"   # 0 pass/warn, 1 fail or files differ, 2 usage or network error
"""
