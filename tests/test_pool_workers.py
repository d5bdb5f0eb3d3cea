"""The rig tools' pool workers end with the process that started them, even when it is killed outright.

``multiprocessing.Pool`` gives this already (each worker closes its copy of the task pipe's
writing end, so it reads end-of-file once its parent is gone; a busy worker's next result hits a
closed pipe); this guards it against a change of pool. The server's pool (``ProcessPoolExecutor``)
has its own watchdog (``server/limits.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each draws with two workers for longer than the test waits (the demo rig at full size, or
# every sequence of the bundled rig made again).
JOBS = {
    "demo": "from streamer.demo import write_demo_rig; "
    "write_demo_rig(Path(sys.argv[1]) / 'rig', size=(1024, 1536), workers=2)",
    "tween": "from streamer.rigs.tween import tween_rig; tween_rig(Path(sys.argv[1]) / 'rig', redo=True, workers=2)",
}


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def running(pid: int) -> bool:
    """Still alive (a zombie whose parent is gone has ended, whoever reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize("job", sorted(JOBS))
def test_pool_workers_end_when_their_parent_is_killed(job: str, tmp_path: Path) -> None:
    if job == "tween":
        shutil.copytree(ROOT / "frames", tmp_path / "rig")
    script = f"import sys; from pathlib import Path; {JOBS[job]}"
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while len(workers := children(parent.pid)) < 2:
            assert parent.poll() is None, f"the {job} job ended before its workers were seen"
            assert time.monotonic() < deadline, f"the {job} job started no pool workers"
            time.sleep(0.1)
        time.sleep(0.5)  # the workers are drawing
        assert parent.poll() is None
        assert all(running(pid) for pid in workers)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while (left := [pid for pid in workers if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"{job}: workers {left} outlived their parent"
