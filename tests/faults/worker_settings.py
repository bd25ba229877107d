"""Settings of the Celery worker processes the fault suite starts: production settings, plus two knobs.

* ``MODELGATE_FAULTS_QUEUE``: the queue this worker consumes *and* sends to (recovery re-enqueues, pipeline
  chains), so a test's workers never meet another test's messages on a shared broker.
* ``MODELGATE_FAULTS_RECOVER_EVERY``: seconds between beat runs of ``scanning.recover_scans`` (production:
  every minute), the only periodic task such a worker's embedded beat runs.
"""

from __future__ import annotations

import os

from governance.settings import *  # noqa: F403
from governance.settings import CELERY_BEAT_SCHEDULE

CELERY_TASK_DEFAULT_QUEUE = os.environ["MODELGATE_FAULTS_QUEUE"]
CELERY_BEAT_SCHEDULE = {
    "scanning-recover-scans": {
        **CELERY_BEAT_SCHEDULE["scanning-recover-scans"],
        "schedule": float(os.environ.get("MODELGATE_FAULTS_RECOVER_EVERY", "60")),
    }
}
