"""One shape for every error: RFC 9457 problem details (`application/problem+json`).

Routes raise `ProblemError` (or a subclass); FastAPI's own HTTP and validation
errors and any unexpected exception are converted to the same shape here, so a
client never has to parse more than one error format.
"""

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details. Extra members (`errors`, `checks`) are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["Order 42 does not exist."])
    instance: str | None = Field(default=None, examples=["/orders/42"])


class ProblemError(Exception):
    """An error with a status, a human-readable detail and optional extra members."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers
        self.extensions = extensions


class NotFoundError(ProblemError):
    status = HTTPStatus.NOT_FOUND


class ConflictError(ProblemError):
    status = HTTPStatus.CONFLICT


class PayloadTooLargeError(ProblemError):
    """A request body (an upload) over the limit for its route."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaTypeError(ProblemError):
    """A body whose declared Content-Type the route cannot take."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class RangeNotSatisfiableError(ProblemError):
    """A `Range` none of whose ranges starts inside the file; `Content-Range`
    gives the file's size, as RFC 9110 asks."""

    status = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE

    def __init__(self, size: int) -> None:
        super().__init__(
            f"No range asked for starts inside the file ({size} bytes).",
            headers={"content-range": f"bytes */{size}"},
        )


class BadGatewayError(ProblemError):
    """An upstream failed, answered badly, or could not be reached."""

    status = HTTPStatus.BAD_GATEWAY


class GatewayTimeoutError(ProblemError):
    """An upstream did not answer within the read timeout."""

    status = HTTPStatus.GATEWAY_TIMEOUT


class ServiceUnavailableError(ProblemError):
    """A dependency (database, broker, upstream) cannot be reached right now.

    The answer says when to try again (`Retry-After`, in seconds).
    """

    status = HTTPStatus.SERVICE_UNAVAILABLE

    def __init__(self, detail: str, *, retry_after: int = 5, **extensions: Any) -> None:
        super().__init__(
            detail, headers={"retry-after": str(retry_after)}, **extensions
        )


class ServiceBusyError(ServiceUnavailableError):
    """Overload rather than an outage: everything that would serve it is in use."""


def problem_response(
    request: Request,
    status: int,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        **extensions,
    )
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    where = ", ".join(".".join(str(part) for part in e["loc"]) for e in errors)
    return f"The request is not valid: {where}.", errors


async def _to_problem(request: Request, exc: Exception) -> JSONResponse:
    match exc:
        case ProblemError():
            return problem_response(
                request, exc.status, exc.detail, headers=exc.headers, **exc.extensions
            )
        case RequestValidationError():
            detail, errors = _validation_detail(exc)
            return problem_response(
                request, HTTPStatus.UNPROCESSABLE_ENTITY, detail, errors=errors
            )
        case StarletteHTTPException():
            phrase = HTTPStatus(exc.status_code).phrase
            said = exc.detail if exc.detail and exc.detail != phrase else None
            headers = exc.headers
            if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED and headers:
                allow = _allowed_methods(request, headers.get("Allow", ""))
                headers = {**headers, "Allow": allow}
            return problem_response(request, exc.status_code, said, headers=headers)
        case _:
            return _unexpected(request, exc)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@lru_cache
def _path_pattern(template: str) -> re.Pattern[str]:
    """A regular expression for the paths an OpenAPI path template matches."""
    return re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template)))


def _allowed_methods(request: Request, fallback: str) -> str:
    """Every method the API documents at the request's path.

    Starlette's 405 lists only the methods of the first route whose path
    matched, and `GET /orders` and `POST /orders` are two routes.
    """
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    methods = {
        method.upper()
        for template, operations in paths.items()
        if _path_pattern(template).fullmatch(request.url.path)
        for method in operations
        if method in _HTTP_METHODS
    }
    return ", ".join(sorted(methods)) or fallback


def _unexpected(request: Request, exc: BaseException) -> JSONResponse:
    # The traceback goes to the log, never to the client.
    logger.error(
        "unhandled error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return problem_response(
        request, HTTPStatus.INTERNAL_SERVER_ERROR, "An unexpected error occurred."
    )


class AnswerUnexpectedErrors:
    """Answer an exception no handler took with a problem 500, and stop it there.

    Starlette's own last-resort handler answers too, but then re-raises the
    exception for the server to log, and uvicorn closes the connection: the
    client's next request on its keep-alive connection would fail. This
    middleware sits inside Starlette's, logs the traceback and lets the
    connection live. An error after the response started cannot be answered;
    it goes on to the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            if started:
                raise
            await _unexpected(Request(scope), exc)(scope, receive, send)


class LimitBodySize:
    """Refuse a request body longer than `max_size` bytes with 413, unread.

    The paths in `larger` (uploads) have limits of their own instead.

    A declared `Content-Length` over the limit is answered before any of the
    body is read; a body sent without one is counted as it arrives and refused
    once it passes the limit, so no more than the limit is ever buffered.
    (FastAPI's own `max_body_size` answers the first case in plain text rather
    than as a problem document.)
    """

    def __init__(
        self, app: ASGIApp, max_size: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_size = max_size
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_size)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            response = problem_response(Request(scope), status, _too_large(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while it reads the
                    # body on to the handlers; anything else would become a 400.
                    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                    raise HTTPException(status, _too_large(limit))
            return message

        await self.app(scope, receive_counting, send)


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than {limit} bytes, the most this service accepts."
    )


def install_error_handlers(
    app: FastAPI, *, max_body_size: int, larger_bodies: Mapping[str, int] | None = None
) -> None:
    """Answer every error with a problem document, and say so in the OpenAPI.

    Request bodies are limited to `max_body_size` bytes, except on the paths of
    `larger_bodies`, each with its own limit."""
    for exc_class in (ProblemError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_class, _to_problem)
    # The last added runs first: a body is measured before anything else.
    app.add_middleware(AnswerUnexpectedErrors)
    app.add_middleware(LimitBodySize, max_size=max_body_size, larger=larger_bodies)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = generate()
        if first:
            _document_problems_as_problem_json(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems_as_problem_json(schema: dict[str, Any]) -> None:
    """Move each problem response's schema to `application/problem+json`.

    FastAPI documents a response `model` under the route's own media type
    (`application/json`); problem responses are sent as problem+json, so their
    schema belongs there and nowhere else.
    """
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content and JSON in content:
                    content[PROBLEM_JSON] = content.pop(JSON)


Responses = dict[int | str, dict[str, Any]]


def problem_responses(*documented: tuple[HTTPStatus, str]) -> Responses:
    """OpenAPI entries for a route's problem responses (its `responses=`)."""
    return {
        status.value: {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_JSON: {}},
        }
        for status, description in documented
    }


# Documented on every route, so the OpenAPI schema tells the truth about errors.
PROBLEM_RESPONSES = problem_responses(
    (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The request is not valid; `errors` lists each problem.",
    ),
    (
        HTTPStatus.BAD_REQUEST,
        "The request body cannot be read (it is not text in UTF-8).",
    ),
    (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "The request body is larger than MAX_BODY_SIZE allows.",
    ),
    (
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "An unexpected error; details are in the server log.",
    ),
)
