"""Run Prefect's temporary API server (uvicorn) so that it stops when the clipwatch process that started it dies.

``python -m flows.server_guard PARENT_PID <uvicorn arguments>``: a daemon thread polls the parent; once the parent
is gone (kill -9 included: the server is reparented), the server is asked to stop (SIGTERM) and, if it has not
within five seconds, exits. (Not the kernel's parent-death signal: it fires when the *thread* that started the
server ends, and Prefect may start it from a worker thread.)
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    parent = int(sys.argv[1])
    if os.getppid() != parent:  # the parent died before we got here
        sys.exit(0)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="clipwatch-parent-watch").start()
    sys.argv = ["uvicorn", *sys.argv[2:]]
    from uvicorn.main import main as uvicorn_main

    uvicorn_main()


if __name__ == "__main__":
    main()
