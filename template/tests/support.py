"""Helpers the tests share."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

#: An address where nothing listens: connections to it are refused at once.
REFUSED = "127.0.0.1:9"


@asynccontextmanager
async def client_for(
    app: FastAPI, *, raise_app_exceptions: bool = True
) -> AsyncIterator[AsyncClient]:
    """An HTTP client talking to `app` in-process, with its lifespan running."""
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(
                manager.app, raise_app_exceptions=raise_app_exceptions
            ),
            base_url="http://testserver",
        ) as client,
    ):
        yield client
