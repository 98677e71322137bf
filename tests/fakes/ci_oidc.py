"""Where a pipeline gets the OIDC token Entra exchanges for an access token: GitHub Actions' token service.

A GitHub Actions job with ``permissions: id-token: write`` has ``ACTIONS_ID_TOKEN_REQUEST_URL`` (which already
carries ``?api-version=2.0``) and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; ``GET <url>&audience=<aud>`` with
``Authorization: Bearer <request token>`` answers ``{"count": .., "value": "<JWT>"}``, a token issued by
``https://token.actions.githubusercontent.com`` whose subject names the repository and the job's environment
and whose audience is the one asked for (the repository owner's URL when none is asked)
(https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect).
A wrong request token is 401. Served over https with the emulated cloud's CA, as the real service is https.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.entra_cloud import Issuer
from tests.fakes.graph_emulator import serve_handler
from tests.fakes.tls import certificates

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass
class GitHubTokenService:
    issuer: Issuer
    subject: str
    request_token: str
    owner_url: str = "https://github.com/msp"
    url: str = ""
    """What the runner sets ``ACTIONS_ID_TOKEN_REQUEST_URL`` to."""
    audiences: list[str] = field(default_factory=list)
    """The audience each token was asked for, in order."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def environment(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}


def _handler(service: GitHubTokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token != service.request_token:
                status, body = 401, {"message": "Unauthorized"}
            elif parts.path != "/_apis/distributedtask/token" or query.get("api-version") != ["2.0"]:
                status, body = 404, {"message": "Not Found"}
            else:
                audience = (query.get("audience") or [service.owner_url])[0]
                with service._lock:
                    service.audiences.append(audience)
                status, body = 200, {"count": 1, "value": service.issuer.token(service.subject, audience)}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serve_github_token_service(issuer: Issuer, subject: str, request_token: str) -> Iterator[GitHubTokenService]:
    """GitHub Actions' token service for one job, on an ephemeral https port."""
    service = GitHubTokenService(issuer, subject, request_token)
    with serve_handler(_handler(service), "github-token-service", certificates().server_context()) as base_url:
        service.url = f"{base_url}/_apis/distributedtask/token?api-version=2.0"
        yield service
