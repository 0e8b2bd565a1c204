"""The data directory is this product's user's alone: the SQLite database and its WAL,
the secret key, the cache, run files and working copies.

Every process of the product runs with umask 077, so whatever it creates there is 0600
(directories 0700) whoever creates it: Django, SQLite (its -wal and -shm files too),
git, the file cache. Plain Python, no Django: `manage.py` calls it first thing.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def keep_private() -> None:
    """Files this process and the processes it starts create: owner only."""
    os.umask(PRIVATE_UMASK)


def make_private(data_dir: Path) -> None:
    """A data dir an older version left readable: the directory 0700, the files
    directly in it (the database, its WAL, the key) 0600. What lies deeper is out of
    other users' reach behind the directory."""
    data_dir.chmod(0o700)
    for entry in data_dir.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(0o600)
