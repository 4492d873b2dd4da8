"""Files under var/ that only the service's own user may read: the secret key, the demo logins,
the SQLite database and the disk broker's messages.

Python creates files 0644 and directories 0755 under the usual umask, so on a shared machine any
local user could read the secret key (and forge sessions) or the demo passwords. These helpers
give every such file mode 0600 and every directory 0700 from the moment it exists, without
changing the process's umask (which would also reach files that are meant to be public, such as
collected static files).
"""

import os
import tempfile
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Make `path` (and missing parents) a directory only its owner can enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A directory an earlier version made 0755 is tightened too, if it is ours to change.
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
    return path


def private_empty_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 unless it exists (SQLite then opens it as a new database,
    and makes its -wal and -shm files with the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return path


def write_private_file(path: Path, text: str, *, only_if_absent: bool = False) -> bool:
    """Write `text` to `path` with mode 0600; return whether this call wrote it.

    The text goes to a temporary file first (mkstemp makes it 0600) and is then moved into place,
    so no reader ever sees a half-written file. With `only_if_absent`, two processes starting at
    once (web and worker) cannot both write: the link fails for the second, which then reads the
    first one's file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if only_if_absent:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
