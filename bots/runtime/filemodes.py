"""Private file modes for the running process: nobody but the bots' own user reads their data.

systemd's ``UMask=0077`` and the Docker image's user give this already; ``affinity run`` started
by hand (or by a service manager without it) would otherwise leave a world-readable database
and data directory.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700


def private_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` mode 0700, or narrow an existing one that others can read or enter."""
    try:
        if not data_dir.exists():
            data_dir.mkdir(mode=PRIVATE_DIR, parents=True)
            os.chmod(data_dir, PRIVATE_DIR)  # mkdir's mode is filtered by the umask; be exact
            return
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        if mode & 0o077:
            os.chmod(data_dir, PRIVATE_DIR)
            log.warning(
                "data_dir %s was open to other users (mode %04o); narrowed it to %04o",
                data_dir,
                mode,
                PRIVATE_DIR,
            )
    except OSError as exc:
        # Not fatal here: opening the database says so plainly if the directory is unusable.
        log.error("could not make data_dir %s private: %s", data_dir, exc.strerror or exc)


def restrict_file_modes(data_dir: Path) -> None:
    """At the start of ``affinity run``: umask 0077 for everything the process creates (the
    database, nio's stores, sealed files), and a private ``data_dir``."""
    os.umask(PRIVATE_UMASK)
    private_data_dir(data_dir)
