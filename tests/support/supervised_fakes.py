"""A supervisor (webapp/supervisor.py) over fake children, run as its own process by
tests/test_supervisor.py: killing it with SIGKILL, or making it adopt orphans, must not touch
the test process.

    python tests/support/supervised_fakes.py '{"name": ["argv", ...], ...}' [new_session_names,...]

Each child is started as given; the names after the JSON start in a session of their own (as
the worker does). Log lines go to stderr; restarts wait 0.05 s.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from webapp.supervisor import Child, RestartPolicy, Supervisor  # noqa: E402


def main() -> int:
    commands = json.loads(sys.argv[1])
    own_session = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else set()
    supervisor = Supervisor(
        [Child(name, argv, new_session=name in own_session) for name, argv in commands.items()],
        policy=RestartPolicy(first_delay=0.05, max_delay=0.05),
        poll_seconds=0.02,
        stop_timeout=5,
    )
    supervisor.install_signal_handlers()
    supervisor.start()
    print("supervising", flush=True)
    return supervisor.supervise()


if __name__ == "__main__":
    sys.exit(main())
