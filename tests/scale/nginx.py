"""nginx on loopback in front of service instances (round robin), as the scale tests run it, and
what they read from the instances' own /metrics."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import free_port
from tests.helpers import wait_until

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream api {{ {servers} }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://api;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def nginx(directory: Path, *ports: int) -> tuple[subprocess.Popen[bytes], str]:
    """nginx balancing over the instances on `ports`; the process and its URL."""
    port = free_port()
    conf = directory / "nginx.conf"
    servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
    conf.write_text(NGINX_CONF.format(dir=directory, servers=servers, port=port))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/livez"), 10, "nginx to proxy")
    return proc, url


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except OSError:
        return False


def requests_on(base_url: str, route: str, status: str | None = None) -> float:
    """http_requests_total of `route` (of one status, if given) on one instance."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = [f'route="{route}"', *((f'status="{status}"',) if status else ())]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("http_requests_total{") and all(w in line for w in wanted))
