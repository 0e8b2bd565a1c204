"""Test settings: a private data dir per test process and tasks run inline.

The end-to-end tests start the product for real (web + worker processes) instead.
"""

import os
import tempfile

os.environ.setdefault("DOCKHAND_DATA_DIR", tempfile.mkdtemp(prefix="dockhand-test-"))
os.environ.setdefault("DOCKHAND_TASKS_INLINE", "true")
os.environ.setdefault("DOCKHAND_DEPLOY_TIMEOUT", "120")
os.environ.setdefault("DOCKHAND_GIT_TIMEOUT", "30")

from dockhand.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
