"""A small Hugging Face Hub-compatible HTTP server for the test suite (stdlib only).

`HubServer` serves generated repos on 127.0.0.1 with the URL shapes, headers and error codes that
`huggingface_hub` relies on; `repos` builds realistic repos; `fixtures` is the pytest plugin
(`hub_server`, `hub_env`).
"""

from tests.hubserver.server import TEST_TOKEN, HubServer, RequestRecord, blob_id, deterministic_commit

__all__ = ["TEST_TOKEN", "HubServer", "RequestRecord", "blob_id", "deterministic_commit"]
