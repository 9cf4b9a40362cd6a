"""nginx in front of a running server, configured with the blocks of docs/deployment.md."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.processes import free_port
from tests.tools import child, require

GUIDE = Path(__file__).parents[1] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def guide_blocks() -> tuple[str, str]:
    """The guide's `map` block and its `location /` block, as written."""
    found = re.search(r"```nginx\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found, "no nginx block in docs/deployment.md"
    config = found.group(1)
    upgrade = re.search(r"map \$http_upgrade.*?\n}\n", config, re.DOTALL)
    location = re.search(r"    location / \{\n.*?\n    }\n", config, re.DOTALL)
    assert upgrade and location, "the nginx block lost its map or its location /"
    return upgrade.group(0), location.group(0)


def config(folder: Path, port: int, upstream: str) -> Path:
    upgrade, location = guide_blocks()
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n  access_log off;\n"
        f"{temp}\n  uwsgi_temp_path {folder / 'uwsgi'};\n  scgi_temp_path {folder / 'scgi'};\n"
        f"{upgrade}\n"
        f"  upstream chattree {{ server {upstream}; keepalive 32; }}\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n{location}  }}\n"
        "}\n"
    )
    return conf


@asynccontextmanager
async def running_nginx(upstream: str) -> AsyncIterator[str]:
    """The URL of nginx proxying to `upstream` ("127.0.0.1:port") until the block ends."""
    require(os.access(NGINX, os.X_OK), "nginx (Debian: apt-get install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="chattree-nginx-") as name:
        folder = Path(name)
        port = free_port()
        conf = config(folder, port, upstream)
        argv = (NGINX, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(conf))
        async with child(*argv) as process:
            url = f"http://127.0.0.1:{port}"
            await wait_until_serving(url, process, folder)
            yield url


async def wait_until_serving(url: str, process: asyncio.subprocess.Process, folder: Path) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(15):
        while True:
            if process.returncode is not None:
                log = (folder / "error.log").read_text(errors="replace")
                raise RuntimeError(f"nginx exited with {process.returncode}: {log}")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
