"""A Haul cluster on one machine, for tests: worker and web "hosts" that can die or be cut off.

The topology (as root, where `ip netns` works):

    root namespace: a Linux bridge with 10.77.N.1/24 — PostgreSQL (initdb into a temp dir),
    redis-server and an extra media site (tests/support/media_site.py) listen on that address
    one network namespace per host, a veth pair from it into the bridge (10.77.N.2, .3, …),
    and a UTS namespace of its own so each host has its own hostname: the worker tag carries
    socket.gethostname(), and jobs/recovery.py judges a tag of its own hostname by its pid on
    this machine — two "hosts" sharing one name would wrongly judge each other's pids.

Every host sees the same filesystem, so one directory is the shared storage (as an NFS mount
would be); each host has a data dir of its own. Cutting a host off is `ip link set <veth> down`
on the bridge's side of its veth pair: a cable pulled, seen from the host as a silent network
(no resets, packets dropped), not as an error.

Names carry this process's pid and a counter (parallel pytest-xdist processes never collide);
what a dead run left behind (namespaces, links, servers, temp dirs) is swept at the next start.
`Cluster.close()` removes everything, and is safe to call half-way through a failed start.

Where namespaces cannot be made (not root, no `ip`), `Cluster(namespaces=False)` runs the same
processes as separate process groups on 127.0.0.1 — one machine, one hostname, honestly so —
and `can_cut` is False: the network-cut test is skipped, saying why.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from support.media_site import MediaSite
from support.slots import hold_first_free
from support.stack import ROOT

PG_BIN = Path(os.environ.get("TESTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
STATE_DIR = Path(tempfile.gettempdir()) / "haul-cluster"  # one dir per cluster, swept when its owner is dead
PREFIX = "hc"  # names: netns hc<pid>x<n>-<host>, bridge hcb<pid>x<n>, veths hcv<pid>x<n><i>
_counter = itertools.count(1)
INDEX_CACHE = "gallery-dl-extractors.json"  # jobs/engines/gallery_dl_index.py CACHE_NAME


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "not root: `ip netns` needs CAP_NET_ADMIN"
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return "`ip` (iproute2) or `unshare` (util-linux) is missing"
    name = f"{PREFIX}probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, message: str, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned), or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(interval)


def _owner_alive(pid: int) -> bool:
    return psutil.pid_exists(pid)


def sweep_leftovers() -> None:
    """Remove what clusters of dead test processes left: their processes, namespaces, links, dirs."""
    if STATE_DIR.exists():
        for run_dir in STATE_DIR.iterdir():
            owner = run_dir.name.split("x")[0].removeprefix(PREFIX)
            if not owner.isdigit() or _owner_alive(int(owner)):
                continue
            for line in (run_dir / "pids").read_text().splitlines() if (run_dir / "pids").exists() else []:
                pid, created = json.loads(line)
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    if abs(proc.create_time() - created) < 0.01:  # the same process, not a reused pid
                        for member in [*proc.children(recursive=True), proc]:
                            with contextlib.suppress(psutil.Error):
                                member.kill()
            shutil.rmtree(run_dir, ignore_errors=True)
    if shutil.which("ip") is None or os.geteuid() != 0:
        return
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        owner = name.removeprefix(PREFIX).split("x")[0]
        if name.startswith(PREFIX) and owner.isdigit() and not _owner_alive(int(owner)):
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        owner = name[len(PREFIX) + 1:].split("x")[0]
        if name.startswith((PREFIX + "b", PREFIX + "v")) and owner.isdigit() and not _owner_alive(int(owner)):
            _ip("link", "del", name, check=False)


class _SubnetLock:
    """10.77.N.0/24 for one cluster: held under a file lock (across pytest-xdist's processes),
    and never a subnet an interface of this machine already has."""

    def __init__(self):
        used = _ip("-o", "-4", "addr", "show", check=False).stdout
        held = hold_first_free(Path(tempfile.gettempdir()) / "haul-cluster-subnets",
                               (n for n in range(10, 250) if f" 10.77.{n}." not in used))
        if held is None:
            raise RuntimeError("no free 10.77.N.0/24 subnet for the cluster")
        self.n, self._lock = held

    def release(self) -> None:
        self._lock.close()


@dataclass
class Host:
    """One "machine": its address, hostname and (in namespace mode) its namespace and veth."""

    name: str
    hostname: str
    address: str
    netns: str | None = None
    veth: str | None = None  # the bridge's end of the host's veth pair
    data_dir: Path | None = None
    processes: dict = field(default_factory=dict)  # role -> Popen

    def wrap(self, args: list[str]) -> list[str]:
        """`args` run inside this host: its network namespace and a UTS namespace with its hostname."""
        if self.netns is None:
            return args
        return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--",
                "/bin/sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *args]


class Cluster:
    """PostgreSQL, Redis and a media site on the cluster's own network, and the hosts around them."""

    def __init__(self, api_token: str, namespaces: bool = True, lease_seconds: int = 9, workers: int = 2,
                 extra_env: dict | None = None):
        self.api_token = api_token
        self.namespaces = namespaces
        self.can_cut = namespaces
        self.tag = f"{PREFIX}{os.getpid()}x{next(_counter)}"
        self.dir = STATE_DIR / self.tag
        self.storage = self.dir / "storage"
        self.hosts: dict[str, Host] = {}
        self._subnet: _SubnetLock | None = None
        self.bridge: str | None = None
        self.address = "127.0.0.1"
        self._host_numbers = itertools.count(2)
        self._services: list[subprocess.Popen] = []
        self.media_site: MediaSite | None = None
        self.database_url = self.redis_url = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
        self.env.update(
            HAUL_STORAGE_ROOT=str(self.storage),
            HAUL_API_TOKEN=api_token,
            # Shared by every web host: a session signed by one is good on the other.
            HAUL_SECRET_KEY=f"cluster-secret-{self.tag}",
            HAUL_JOB_LEASE_SECONDS=str(lease_seconds),
            HAUL_WORKERS=str(workers),
            HAUL_RETRY_BACKOFF_SECONDS="0.3",
            HAUL_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            **{k: str(v) for k, v in (extra_env or {}).items()},
        )

    # -- the network, the servers ------------------------------------------------------------
    def start(self) -> "Cluster":
        sweep_leftovers()
        self.dir.mkdir(parents=True)
        self.storage.mkdir()
        try:
            if self.namespaces:
                self._subnet = _SubnetLock()
                self.address = f"10.77.{self._subnet.n}.1"
                self.bridge = f"{self.tag.replace(PREFIX, PREFIX + 'b', 1)}"
                _ip("link", "add", self.bridge, "type", "bridge")
                _ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
            # gallery-dl's extractor index, which a worker builds into its data dir on its first
            # start (seconds of CPU): built once here, meanwhile, and given to every host.
            index = subprocess.Popen(
                [sys.executable, "-c", "import sys; from jobs.engines import gallery_dl_index as index; "
                 "index.load_entries(sys.argv[1])", str(self.dir / "index")],
                cwd=ROOT, env={**self.env, "HAUL_DATA_DIR": str(self.dir / "index")},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._start_postgres()
            self._start_redis()
            self.media_site = MediaSite(ROOT / "tests" / ".assets", host=self.address).start()
            subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                           env={**self.env, "HAUL_DATA_DIR": str(self.dir / "migrate")}, check=True,
                           capture_output=True)
            index.wait(120)
        except BaseException:
            self.close()
            raise
        return self

    def _record(self, proc: subprocess.Popen) -> subprocess.Popen:
        """Note a process we started, for the sweep after a run that died without cleaning up."""
        with contextlib.suppress(psutil.Error), open(self.dir / "pids", "a") as fh:
            fh.write(json.dumps([proc.pid, psutil.Process(proc.pid).create_time()]) + "\n")
        return proc

    def _start_postgres(self) -> None:
        data, sockets = self.dir / "pg", self.dir / "pg-sockets"
        sockets.mkdir()
        # initdb and postgres refuse to run as root: as the `postgres` user, in dirs it owns.
        user = "postgres" if os.geteuid() == 0 else None
        if user:
            shutil.chown(self.dir, user)
            shutil.chown(sockets, user)
        subprocess.run([PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
                        "--encoding=UTF8", "--locale=C.UTF-8"], check=True, capture_output=True, user=user)
        net = f"{self.address.rsplit('.', 1)[0]}.0/24" if self.namespaces else "127.0.0.1/32"
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {net} trust\n")
        port = _free_port(self.address)
        log = open(self.dir / "postgres.log", "ab")
        self._services.append(self._record(subprocess.Popen(
            [PG_BIN / "postgres", "-D", data, "-k", sockets, "-h", self.address, "-p", str(port),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True)))
        import psycopg

        admin = f"postgresql://postgres@{self.address}:{port}/postgres"

        def answers():
            if self._services[-1].poll() is not None:
                raise RuntimeError(f"postgres exited:\n{(self.dir / 'postgres.log').read_text()[-2000:]}")
            try:
                with psycopg.connect(admin, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE haul")
                return True
            except psycopg.OperationalError:
                return False

        wait_until(answers, 30, "PostgreSQL did not start")
        self.database_url = f"postgresql+psycopg://postgres@{self.address}:{port}/haul"
        self.env["HAUL_DATABASE_URL"] = self.database_url

    def _start_redis(self) -> None:
        import redis

        port = _free_port(self.address)
        log = open(self.dir / "redis.log", "ab")
        self._services.append(self._record(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", self.address, "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)))
        self.redis_url = f"redis://{self.address}:{port}/0"

        def answers():
            try:
                return redis.Redis.from_url(self.redis_url, socket_connect_timeout=1).ping()
            except redis.ConnectionError:
                return False

        wait_until(answers, 15, "redis-server did not start")
        self.env["HAUL_REDIS_URL"] = self.redis_url

    def sql(self, query: str, *params):
        """Rows of `query` on the cluster's database (read by the test, from outside every host)."""
        import psycopg

        with psycopg.connect(self.database_url.replace("+psycopg", ""), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    # -- hosts -------------------------------------------------------------------------------
    def add_host(self, name: str) -> Host:
        number = next(self._host_numbers)
        host = Host(name=name, hostname=f"{name}-{self.tag}" if self.namespaces else socket.gethostname(),
                    address=self.address,
                    data_dir=self.dir / name / "data")
        host.data_dir.mkdir(parents=True)
        with contextlib.suppress(FileNotFoundError):  # built in start(); a host builds its own without it
            shutil.copy(self.dir / "index" / INDEX_CACHE, host.data_dir / INDEX_CACHE)
        if self.namespaces:
            host.netns = f"{self.tag}-{name}"
            host.veth = f"{self.tag.replace(PREFIX, PREFIX + 'v', 1)}{number}"
            host.address = f"10.77.{self._subnet.n}.{number}"
            _ip("netns", "add", host.netns)
            _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            _ip("link", "set", host.veth, "master", self.bridge, "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
        self.hosts[name] = host
        return host

    def _spawn(self, host: Host, role: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.dir / f"{host.name}-{role}.log", "ab")
        # A session (and process group) of its own: the host's processes die together.
        proc = self._record(subprocess.Popen(host.wrap(args), cwd=ROOT, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True))
        host.processes[role] = proc
        return proc

    def log(self, host: str, role: str) -> str:
        path = self.dir / f"{host}-{role}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def host_env(self, host: Host, **extra) -> dict:
        return {**self.env, "HAUL_DATA_DIR": str(host.data_dir), **{k: str(v) for k, v in extra.items()}}

    def start_worker(self, name: str) -> Host:
        """A worker host: `python -m jobs.worker` in a host of its own (started and ready)."""
        host, ready = self._launch_worker(name)
        wait_until(ready, 60, f"worker {name} did not start")
        return host

    def start_web(self, name: str) -> "WebHost":
        """A web host: gunicorn (gevent) serving wsgi:app on the host's own address (answering)."""
        web, ready = self._launch_web(name)
        wait_until(ready, 60, f"web {name} did not start")
        return web

    def start_hosts(self, workers=(), webs=()) -> list["WebHost"]:
        """Several hosts started at once (each takes seconds to load); the web hosts, ready."""
        launched = [self._launch_worker(name) for name in workers] + [self._launch_web(name) for name in webs]
        for what, ready in launched:
            wait_until(ready, 90, f"{what} did not start")
        return [what for what, _ in launched if isinstance(what, WebHost)]

    def _launch_worker(self, name: str):
        host = self.hosts.get(name) or self.add_host(name)
        before = self.log(name, "worker").count("worker started")
        proc = self._spawn(host, "worker", [sys.executable, "-m", "jobs.worker"], self.host_env(host))

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited:\n{self.log(name, 'worker')[-3000:]}")
            return self.log(name, "worker").count("worker started") > before

        return host, ready

    def _launch_web(self, name: str):
        host = self.hosts.get(name) or self.add_host(name)
        port = 8080 if self.namespaces else _free_port("127.0.0.1")
        proc = self._spawn(host, "web", [sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf",
                                         "wsgi:app"],
                           self.host_env(host, HAUL_HOST=host.address, HAUL_PORT=port))
        web = WebHost(host, f"http://{host.address}:{port}", self.api_token)

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"web {name} exited:\n{self.log(name, 'web')[-3000:]}")
            try:
                return requests.get(web.base_url + "/login", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        return web, ready

    def kill_host(self, name: str) -> None:
        """SIGKILL every process of the host, children included, like a power cut; reaped."""
        for proc in self.hosts[name].processes.values():
            _kill_tree(proc)

    def cut(self, name: str) -> None:
        """Pull the host's cable: the bridge's end of its veth pair goes down."""
        _ip("link", "set", self.hosts[name].veth, "down")

    def reconnect(self, name: str) -> None:
        _ip("link", "set", self.hosts[name].veth, "up")

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop and remove everything the cluster made, whatever state it is in."""
        for host in self.hosts.values():
            for proc in host.processes.values():
                _kill_tree(proc)
        if self.media_site is not None:
            self.media_site.stop()
            self.media_site = None
        for proc in self._services:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # postgres: fast shutdown; redis: exit
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
        for host in self.hosts.values():
            if host.netns:  # deleting the namespace deletes its veth pair
                _ip("netns", "del", host.netns, check=False)
            if host.veth:
                _ip("link", "del", host.veth, check=False)
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)
        if self._subnet:
            self._subnet.release()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a process and every descendant (found before any dies), then reap it."""
    if proc.poll() is not None:
        return
    family = []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(proc.pid)
        family = [root, *root.children(recursive=True)]
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of its session the walk above missed
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


class WebHost:
    """A web host as its clients see it (the shape tests/support/live_clients.py expects)."""

    def __init__(self, host: Host, base_url: str, api_token: str):
        self.host, self.base_url, self.api_token = host, base_url, api_token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_token}"

    def submit(self, urls) -> dict:
        response = self.session.post(self.base_url + "/downloads", json={"urls": list(urls)}, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: int) -> dict:
        response = self.session.get(f"{self.base_url}/api/v1/queue/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()
