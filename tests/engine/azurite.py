"""Azurite, Microsoft's Azure Storage emulator, for the engine tests that keep state in Azure Blob Storage.

Installed from the npm registry into a cache outside the repository (as engine/build.sh caches the engine),
once per machine, by the first test that needs it; started on 127.0.0.1 at a free port, in a folder of the
test's, with its telemetry off (Azurite sends usage data to Application Insights unless told not to, and
tests reach nothing but 127.0.0.1).

Pulumi's ``azblob://`` backend is gocloud.dev's azureblob driver (pulumi/pulumi pkg/backend/diy/backend.go
opens it with ``azureblob.NewDefaultServiceURLOptions``): ``AZURE_STORAGE_ACCOUNT`` and ``AZURE_STORAGE_KEY``
sign requests with the account's shared key, and ``AZURE_STORAGE_DOMAIN`` set to ``127.0.0.1:<port>`` makes
it use the emulator's path-style address ``http://127.0.0.1:<port>/<account>``
(gocloud.dev blob/azureblob/azureblob.go ``NewServiceURL``), with ``AZURE_STORAGE_PROTOCOL=http``.
The container must exist: the backend never creates one.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.error import HTTPError
from xml.etree import ElementTree

VERSION = "3.35.0"
"""The newest Azurite that runs on Node.js 20, the machine's (3.36 asks for Node 21, 3.37 for 22:
``npm view azurite@<v> engines``)."""
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account and key (its README, "Default Storage Account")."""
API_VERSION = "2021-12-02"
INSTALL_TIMEOUT = 900


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "taxcalc-consent" / "azurite" / VERSION


def install() -> Path | str:
    """The ``azurite-blob`` executable, installed with npm on first use; or why it could not be."""
    folder = cache_dir()
    executable = folder / "node_modules" / ".bin" / "azurite-blob"
    if executable.exists():
        return executable
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not on PATH (Azurite comes from the npm registry; install Node.js and npm)"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install per machine at a time; a second caller then finds it
        if executable.exists():
            return executable
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), f"azurite@{VERSION}"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        if done.returncode != 0 or not executable.exists():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return f"npm install azurite@{VERSION} failed (exit {done.returncode}): {tail}"
    return executable


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.domain}/{ACCOUNT}"

    def environment(self) -> dict[str, str]:
        """What the Pulumi CLI needs to reach this emulator's blob service (module docstring)."""
        return {
            "AZURE_STORAGE_ACCOUNT": ACCOUNT,
            "AZURE_STORAGE_KEY": KEY,
            "AZURE_STORAGE_DOMAIN": self.domain,
            "AZURE_STORAGE_PROTOCOL": "http",
        }

    def create_container(self, name: str) -> None:
        _send(self, "PUT", f"/{name}", {"restype": "container"})

    def blob_names(self, container: str, prefix: str = "") -> list[str]:
        query = {"restype": "container", "comp": "list", **({"prefix": prefix} if prefix else {})}
        body = _send(self, "GET", f"/{container}", query)
        return [node.text or "" for node in ElementTree.fromstring(body).iter("Name")]

    def read_blob(self, container: str, name: str) -> bytes:
        return _send(self, "GET", f"/{container}/{name}", {})


def _send(azurite: Azurite, method: str, path: str, query: dict[str, str]) -> bytes:
    """One Blob service request signed with the account's shared key
    (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key, "Blob, Queue, and File
    services (Shared Key authorization)": the string to sign, and the canonicalized resource, which for the
    emulator's path-style address names the account twice)."""
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION}
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{ACCOUNT}/{ACCOUNT}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    # VERB, then Content-Encoding, -Language, -Length (empty for 0), -MD5, -Type, Date, If-Modified-Since,
    # If-Match, If-None-Match, If-Unmodified-Since, Range: all empty but the type of a PUT's (empty) body.
    content_type = "application/octet-stream" if method == "PUT" else ""
    to_sign = method + "\n" * 5 + content_type + "\n" * 7 + canonical_headers + resource
    signature = base64.b64encode(hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{signature}"
    if content_type:
        headers["Content-Type"] = content_type
    url = azurite.endpoint + path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    request = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())
    except HTTPError as exc:
        raise RuntimeError(f"Azurite {method} {path}: {exc.code} {exc.read()[:300]!r}") from None


_LISTENING = re.compile(r"listens on http://127\.0\.0\.1:(\d+)")


@contextmanager
def serve(executable: Path, workdir: Path) -> Iterator[Azurite]:
    """Azurite's blob service on 127.0.0.1 at a free port, for the length of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(executable),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(workdir),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = None
        deadline = time.monotonic() + 60
        said: list[str] = []
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            said.append(line)
            matched = _LISTENING.search(line)
            port = int(matched[1]) if matched else None
        if port is None:
            raise RuntimeError(f"Azurite did not start: {''.join(said)[-500:]}")
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
