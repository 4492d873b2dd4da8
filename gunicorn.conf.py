"""gunicorn's settings for the web process: docker-compose, the Dockerfile and bench/review_load.py.

gunicorn reads this file from its working directory; command-line options override it. The
values are the ones `bench/review_load.py` measured (docs/BENCHMARKS.md): threaded workers, so a
reviewer's keep-alive connection does not hold a whole process (sync workers, the previous
setting of the image, close the connection after every request).
"""

import os

# Loopback unless told otherwise; the image and compose bind 0.0.0.0:8000 on their command line.
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "4"))
threads = int(os.environ.get("WEB_THREADS", "2"))
# Reviewers' browsers (or the proxy in front) reuse their connection for next + vote.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
# Each worker touches a heartbeat file on every turn of its event loop. gunicorn's docs advise
# a memory filesystem: on a disk-backed /tmp the touch can block behind a busy disk (its CPU
# cost is small either way: 1.2 vs 0.7 us per touch here).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# "-" logs each request to stdout (the compose file's default); unset, no access log.
accesslog = os.environ.get("WEB_ACCESS_LOG") or None


def post_worker_init(worker):
    """Move everything the worker loaded at start (Django, the apps, the URLconf and every view
    module: evalsite/wsgi.py loads them) out of the garbage collector's sight.

    Measured under bench/review_load.py (docs/BENCHMARKS.md): a full collection walked ~127,000
    start-up objects and stopped every thread of the worker for 52-89 ms, about every 8 s per
    worker, enough alone to put the review path's p99 over 50 ms; frozen, 5-9 ms. Frozen objects
    are never freed (what is garbage at start is collected first); the rest lives as long as the
    worker anyway.
    """
    import gc

    gc.collect()
    gc.freeze()
