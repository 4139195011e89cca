"""A real nginx terminating TLS in front of a live Haul, configured by docs/deploy/nginx.conf.

The documented file is used as it stands except for four things only a test changes: the
address nginx listens on, the server name, the certificate (a self-signed one made with
`openssl` for 127.0.0.1) and Haul's port. Each of those must appear in the file exactly once,
so the documentation cannot drift away from what is tested without this failing.
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.stack import ROOT, free_port

DOCUMENTED = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    return found or next((path for path in NGINX_CANDIDATES if Path(path).exists()), None)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/deploy/nginx.conf should contain {old!r} exactly once"
    return text.replace(old, new)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class NginxProxy:
    """`with NginxProxy(workdir, upstream_port) as proxy:` — nginx on https://127.0.0.1:<port>."""

    def __init__(self, workdir: Path, upstream_port: int):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.upstream_port = upstream_port
        self.process: subprocess.Popen | None = None
        self.certificate = self.workdir / "cert.pem"  # self-signed for 127.0.0.1: verify=… with it

    def _site_config(self, cert: Path, key: Path) -> str:
        text = DOCUMENTED.read_text()
        text = _replace_once(text, "listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;")
        text = _replace_once(text, "server_name haul.example.com;", "server_name 127.0.0.1;")
        text = _replace_once(text, "/etc/ssl/haul/fullchain.pem", str(cert))
        text = _replace_once(text, "/etc/ssl/haul/privkey.pem", str(key))
        return _replace_once(text, "http://127.0.0.1:8080", f"http://127.0.0.1:{self.upstream_port}")

    def _main_config(self, site: Path) -> str:
        """What /etc/nginx/nginx.conf gives a site on Debian, in a folder of the test's own."""
        temp = self.workdir / "temp"
        temp.mkdir(exist_ok=True)
        return f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {self.workdir / "nginx.pid"};
error_log {self.workdir / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {self.workdir / "access.log"};
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    include {site};
}}
"""

    def start(self) -> "NginxProxy":
        binary = nginx_binary()
        assert binary, "nginx is missing: `make test` installs it (apt-get install nginx)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed_certificate(self.workdir)
        site = self.workdir / "haul.conf"
        site.write_text(self._site_config(cert, key))
        main = self.workdir / "nginx.conf"
        main.write_text(self._main_config(site))
        checked = subprocess.run([binary, "-t", "-c", str(main), "-p", str(self.workdir)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, f"nginx rejects the documented config:\n{checked.stderr}"
        self.process = subprocess.Popen([binary, "-c", str(main), "-p", str(self.workdir)],
                                        stdout=subprocess.DEVNULL, stderr=open(self.workdir / "stderr.log", "ab"))
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.process.poll() is None, f"nginx stopped:\n{self.log()}"
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.05)

    def log(self) -> str:
        parts = [path.read_text(errors="replace") for path in (self.workdir / "stderr.log", self.workdir / "error.log")
                 if path.exists()]
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: live streams would hold a graceful one
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
