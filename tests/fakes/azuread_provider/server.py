"""The gRPC server of the test plugin: ``pulumi.provider.experimental``'s, with failures reported as the real
provider reports them.

The SDK's servicer (``pulumi.provider.experimental.server.ProviderServicer``) appends the provider's Python
stack trace to every error it returns (``_raise_with_traceback``), so a Graph 409 would reach ``apply``'s
output with a traceback the real provider never sends. This subclass runs the same SDK code and turns a
``ProviderError`` into a plain gRPC error whose message is the diagnostic, as pulumi-terraform-bridge
returns one (hashicorp/go-multierror's ``1 error occurred:\\n\\t* ...``; invokes prefixed ``invoking <token>``).
Any other exception (a bug in the fake) keeps the SDK's traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from pulumi.provider.experimental.provider import Provider
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

from tests.fakes.azuread_provider.graph import ProviderError

Method = Callable[[Any, Any, Any], Awaitable[Any]]


def _undecorated(method: Method) -> Method:
    """The SDK method without its ``_raise_with_traceback`` wrapper (the function the wrapper closes over)."""
    inner = inspect.getclosurevars(method).nonlocals.get("fn")
    return inner if callable(inner) else method


def terraform_errors(message: str) -> str:
    return f"1 error occurred:\n\t* {message}\n\n"


class Servicer(ProviderServicer):
    async def _plain(self, method: Method, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await _undecorated(method)(self, request, context)
        except ProviderError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, terraform_errors(str(exc)))

    async def Configure(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Configure, request, context)

    async def Check(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Check, request, context)

    async def Diff(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Diff, request, context)

    async def Create(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Create, request, context)

    async def Read(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Read, request, context)

    async def Update(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Update, request, context)

    async def Delete(self, request: Any, context: Any) -> Any:
        return await self._plain(ProviderServicer.Delete, request, context)

    async def Invoke(self, request: Any, context: Any) -> Any:
        try:
            return await ProviderServicer.Invoke(self, request, context)
        except ProviderError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, f"invoking {request.tok}: {terraform_errors(str(exc))}")


def serve(args: list[str], version: str, provider: Provider) -> None:
    """``pulumi.provider.experimental.server.main`` with :class:`Servicer`: print the port, serve the engine."""
    parser = argparse.ArgumentParser(description="Pulumi provider plugin (gRPC server)")
    parser.add_argument("engine", help="Pulumi engine address")
    parser.add_argument("--logflow", action="store_true")
    parser.add_argument("--logtostderr", action="store_true")
    known, _ = parser.parse_known_args(args)

    async def run() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(
            Servicer(args, version, provider, engine_address=known.engine), server
        )
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.buffer.write(f"{port}\n".encode())
        sys.stdout.buffer.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
