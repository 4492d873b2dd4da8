"""A throwaway database for a benchmark run: its own var dir and test database, gone afterwards.

Shared by bench/report.py and bench/exports.py (run as scripts, so this directory is on
sys.path). The var dir holds the SQLite database, the file cache and the secret key (hence
the reviewer pseudonyms), shared with any child process the bench starts.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def scratch_database(name: str):
    """Set up Django on a fresh var dir and test database named after `name`; yields the var dir."""
    tmp_var = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
    os.environ["EVALSITE_VAR_DIR"] = str(tmp_var)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    is_pg = connection.vendor == "postgresql"
    test_name = f"{name.replace('-', '_')}_{os.getpid()}" if is_pg else str(tmp_var / "bench.sqlite3")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = test_name
    old_name = connection.settings_dict["NAME"]
    created = None
    try:
        created = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        print(f"database: {connection.vendor} ({created})")
        yield tmp_var
    finally:
        if created is not None:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(tmp_var, ignore_errors=True)
