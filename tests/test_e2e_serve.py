"""`flask --app wsgi serve` (what `make run` and the container run): web and worker together,
the worker below the web in a session of its own, and Ctrl-C stopping both; and the operator's
attacks on it: kill -9 of the worker, of the web server, of the launcher itself, and a second
`serve` on the same data dir. The supervisor's own logic with fake children: tests/test_supervisor.py.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import requests
from conftest import API_TOKEN
from support.stack import ROOT, HaulStack, free_port, kill_tree

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def test_serve_starts_both_and_ctrl_c_stops_both(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(tmp_path / "data"), HAUL_PORT=str(port), HAUL_HOST="127.0.0.1")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    # Its own process group stands for the terminal's foreground group Ctrl-C signals.
    launcher = subprocess.Popen(flask + ["serve"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    everything = [launcher.pid]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/setup", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
                pass
            assert time.monotonic() < deadline and launcher.poll() is None, "serve did not start"
            time.sleep(0.1)
        children = psutil.Process(launcher.pid).children()
        worker = next(p for p in children if "jobs.worker" in p.cmdline())
        web = next(p for p in children if "gunicorn" in " ".join(p.cmdline()))
        serving = web.children()[0]
        assert worker.nice() == 5 and serving.nice() == 0
        assert os.getsid(worker.pid) == worker.pid  # a scheduling group of its own
        everything += [worker.pid, web.pid, serving.pid]

        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: the foreground group, not the worker's
        output, _ = launcher.communicate(timeout=30)
        assert launcher.returncode == 0, output
        assert "/setup and enter the setup code" in output
        deadline = time.monotonic() + 10
        while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                  for pid in everything) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in everything if psutil.pid_exists(pid)
                    and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE], "a process outlived Ctrl-C"
    finally:
        kill_tree(launcher, also=everything)  # nothing left when the test passed


# -- the operator's attacks ------------------------------------------------------------------

def prepared(tmp_path) -> HaulStack:
    """A migrated data dir and port of its own; only HaulStack's settings and API helpers are used."""
    stack = HaulStack(tmp_path, api_token=API_TOKEN)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    stack.migrate()
    return stack


def launch(stack: HaulStack, log_name: str = "serve.log", port: int | None = None) -> subprocess.Popen:
    """`flask serve` in a process group of its own (a terminal's), its output in `log_name`."""
    env = dict(stack.env, HAUL_PORT=str(port or stack.port))
    log = open(stack.workdir / log_name, "ab")
    return subprocess.Popen(FLASK + ["serve"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)


def health(stack: HaulStack) -> int | None:
    try:
        return requests.get(stack.base_url + "/health", timeout=5).status_code
    except (requests.ConnectionError, requests.Timeout):  # nothing listening
        return None


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, message
        time.sleep(0.1)
    return found


def serving(stack: HaulStack, launcher: subprocess.Popen) -> tuple[psutil.Process, psutil.Process]:
    """(worker, web) once the web answers and the worker has started: the launcher's children."""
    def ready():
        assert launcher.poll() is None, stack.log("serve.log")[-3000:]
        return health(stack) == 200 and stack.log("serve.log").count("worker started") >= 1
    wait_for(ready, 60, "serve did not start")
    return role(launcher, "worker"), role(launcher, "web")


def role(launcher: subprocess.Popen, name: str, other_than=()) -> psutil.Process | None:
    """The launcher's living child running the worker or the web, other than the pids given
    (None while it is down). The launcher adopts what a dead child leaves, so an old serving
    process can show up among its children for a moment too."""
    marker = "jobs.worker" if name == "worker" else "gunicorn"
    for child in psutil.Process(launcher.pid).children():
        if child.pid in other_than:
            continue
        try:
            if marker in " ".join(child.cmdline()):
                return child
        except psutil.Error:  # killed and not reaped yet (a zombie), or gone
            continue
    return None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def downloading_with_bytes(stack: HaulStack, job_id: int) -> None:
    wait_for(lambda: (job := stack.job(job_id))["status"] == "downloading" and job["progress"]["bytes_done"] > 0,
             30, "the download never started")


def ctrl_c(launcher: subprocess.Popen, pids: list[int]) -> None:
    os.killpg(launcher.pid, signal.SIGINT)
    assert launcher.wait(30) == 0
    wait_for(lambda: not any(alive(pid) for pid in pids), 15, "a process outlived Ctrl-C")


def test_kill_9_of_the_worker_starts_a_new_one_that_finishes_the_work_while_the_web_answers(tmp_path, media_site):
    stack = prepared(tmp_path)
    launcher = launch(stack)
    everything = [launcher.pid]
    try:
        worker, web = serving(stack, launcher)
        everything += [worker.pid, web.pid]
        [job] = stack.submit([media_site.url("/slow/serve-kill.jpg?kb=1024&rate=256")])["jobs"]
        downloading_with_bytes(stack, job["id"])

        worker.kill()
        answers, later = [], None
        while (new_worker := role(launcher, "worker", other_than=(worker.pid,))) is None:
            assert launcher.poll() is None, stack.log("serve.log")[-3000:]
            answers.append(health(stack))
            if later is None:  # links are still taken while no worker runs
                [later] = stack.submit([media_site.url("/img/151.png")])["jobs"]
            time.sleep(0.1)
        everything.append(new_worker.pid)
        assert answers and set(answers) == {200}
        assert role(launcher, "web").pid == web.pid  # the web was never touched

        done = stack.wait_for_job(job["id"], timeout=60)
        assert new_worker.nice() == 5 and os.getsid(new_worker.pid) == new_worker.pid  # set apart as the first
        assert done["status"] == "completed" and done["attempts"] == 2, done
        assert (stack.storage_root / done["files"][0]["path"]).read_bytes() == media_site.slow_bytes("serve-kill", 1024)
        assert stack.wait_for_job(later["id"], timeout=30)["status"] == "completed"
        log = stack.log("serve.log")
        assert "haul: the worker exited (killed by SIGKILL); starting it again in 1 s" in log
        assert f"haul: the worker is running again (pid {new_worker.pid})" in log
        # The new worker takes the job back as it starts (the launcher reaped the old one, so its
        # pid is dead), not after the 30 s a silent heartbeat takes to go stale.
        restarted = log.split(f"haul: the worker is running again (pid {new_worker.pid})", 1)[1]
        assert restarted.index(f"re-queued 1 job(s) left by a stopped worker: [{job['id']}]") < restarted.index(
            "worker started")

        ctrl_c(launcher, everything)
    finally:
        kill_tree(launcher, also=everything)


def test_kill_9_of_the_web_server_starts_it_again_and_the_worker_runs_on(tmp_path):
    stack = prepared(tmp_path)
    launcher = launch(stack)
    everything = [launcher.pid]
    try:
        worker, web = serving(stack, launcher)
        [server] = web.children()
        everything += [worker.pid, web.pid, server.pid]

        web.kill()
        new_web = wait_for(lambda: role(launcher, "web", other_than=(web.pid, server.pid)), 30, "no new web server")
        everything.append(new_web.pid)
        wait_for(lambda: health(stack) == 200, 60, "the new web server never answered")
        assert not alive(server.pid)  # the old serving process did not outlive its master
        assert role(launcher, "worker").pid == worker.pid and alive(worker.pid)
        assert "haul: the web exited (killed by SIGKILL); starting it again in 1 s" in stack.log("serve.log")

        everything += [child.pid for child in new_web.children()]
        ctrl_c(launcher, everything)
    finally:
        kill_tree(launcher, also=everything)


def test_kill_9_of_the_launcher_leaves_no_process_of_the_stack_and_loses_no_download(tmp_path, media_site):
    stack = prepared(tmp_path)
    launcher = launch(stack)
    everything = [launcher.pid]
    try:
        worker, web = serving(stack, launcher)
        everything += [worker.pid, web.pid, *(child.pid for child in web.children())]
        [job] = stack.submit([media_site.url("/slow/serve-orphan.jpg?kb=1024&rate=256")])["jobs"]
        downloading_with_bytes(stack, job["id"])

        launcher.kill()
        launcher.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in everything), 30, "a process of the stack outlived its launcher")
        [row] = stack.sql("SELECT status, attempts FROM jobs WHERE id = :id", id=job["id"])
        status, attempts = row["status"], row["attempts"]
        # The worker was told to stop and handed its download back (an attempt it did not finish
        # is not counted).
        assert (status, attempts) == ("queued", 0)

        # The lock died with the stack: the next start is not refused, and finishes the job.
        again = launch(stack)
        everything.append(again.pid)
        worker, web = serving(stack, again)
        everything += [worker.pid, web.pid, *(child.pid for child in web.children())]
        done = stack.wait_for_job(job["id"], timeout=60)
        assert done["status"] == "completed" and done["attempts"] == 1, done
        ctrl_c(again, everything)
    finally:
        kill_tree(launcher, also=everything)


def test_a_second_serve_on_the_same_data_dir_refuses_at_once_naming_the_first(tmp_path):
    stack = prepared(tmp_path)
    first = launch(stack)
    everything = [first.pid]
    try:
        worker, web = serving(stack, first)
        everything += [worker.pid, web.pid]
        second = launch(stack, "second.log", port=free_port())  # its own port: only the data dir is shared
        everything.append(second.pid)
        assert second.wait(30) == 1
        assert stack.log("second.log").splitlines() == [
            f"haul: another Haul is already running on {stack.data_dir.resolve()} (pid {first.pid}); stop it first"]
        assert [child.pid for child in psutil.Process(first.pid).children()] == [web.pid, worker.pid]
        assert health(stack) == 200
        ctrl_c(first, everything)
    finally:
        kill_tree(first, also=everything)
