"""The HTTP guard: a pure ASGI middleware in front of every route.

Order of checks for one request (each refusal is the RULES.md envelope and reads no further):

| check | answer |
|---|---|
| NUL byte or invalid UTF-8 in the path or query string | 400, 1003 |
| route needs a key (or optional key given) and the client IP failed authentication too often | 429, Retry-After |
| route needs a key and the Authorization header is missing, unknown, expired or revoked | 401, 1001 (counted) |
| body longer than ``MAX_BODY_BYTES`` (declared by Content-Length, or streamed, chunked included) | 413, 1003 |
| JSON nested deeper than ``MAX_JSON_DEPTH``, NaN/Infinity, NUL or lone surrogate in a string, not JSON | 400, 1003 |

Authentication happens before a byte of the body is read, so an anonymous client cannot make the
server parse anything. The body is read here, with a byte cap, parsed once with a depth bound, then
handed to the route unchanged: the route's own parser cannot meet anything the bound parser refused. The
route does not parse it again: the value parsed here rides in the scope (``PARSED_JSON_KEY``, with the bytes
it came from) and the routes' request class (``ParsedBodyRoute``) answers FastAPI's ``request.json()`` with it.
Every response gets the security headers; responses to authenticated requests ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping, Sequence
from itertools import accumulate
from typing import Any

import anyio.to_thread
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor
from sovcarbon.services import auth, read_routing
from sovcarbon.services.registry import Registry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 64
INLINE_PARSE_BYTES = 64 * 1024
AUTH_FAILURE_LIMIT = 20          # failed authentications per client IP ...
AUTH_FAILURE_WINDOW_S = 60.0     # ... within this window, then 429 until the oldest failure ages out
AUTH_THROTTLE_MAX_CLIENTS = 10_000  # bounded memory: the least recently failing IPs are forgotten first
ACTOR_STATE_KEY = "sovcarbon_actor"
PARSED_JSON_KEY = "sovcarbon.parsed_json"  # scope key: (body bytes, the value parse_json_body made of them)

CSP_PAGES = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI / ReDoc (served offline by the registry) start from one inline script and use blob workers.
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRUCT = re.compile(rb"[\[\]{}]")


class FailedAuthThrottle:
    """Failed authentications per client IP in a sliding window; in memory, bounded in size."""

    def __init__(self, limit: int = AUTH_FAILURE_LIMIT, window_s: float = AUTH_FAILURE_WINDOW_S,
                 max_clients: int = AUTH_THROTTLE_MAX_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_s(self, client: str) -> int:
        """0 if the client may try to authenticate; else seconds until it may."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return 0
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[client]
                return 0
            if len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times  # most recent at the end
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number in JSON")


def json_depth(body: bytes) -> int:
    """Maximum nesting depth of brackets outside strings, without recursion."""
    structure = _STRUCT.findall(_STRING.sub(b"", body))
    if not structure:
        return 0
    return max(accumulate(1 if s in (b"[", b"{") else -1 for s in structure))


def _check_strings(value: Any) -> None:
    """NUL and lone surrogates cannot be stored by PostgreSQL (or encoded as UTF-8): refuse them anywhere."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                _check_string(k)
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            _check_string(v)


def _check_string(s: str) -> None:
    if "\x00" in s:
        raise RegistryError(1003, "invalid request: strings must not contain NUL characters")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RegistryError(1003, "invalid request: strings must be valid Unicode (no lone surrogates)") from exc


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as the registry accepts JSON: depth-bounded, no NaN/Infinity, no NUL."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise RegistryError(1003, f"invalid request: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN, too many digits, bad UTF-8
        raise RegistryError(1003, f"invalid request: body is not valid JSON ({str(exc)[:120]})") from exc
    _check_strings(value)
    return value


def _route_auth(dependant: Dependant) -> str:
    """'required' if the route depends on an API key, 'optional' if it accepts one, else 'none'."""
    from sovcarbon.api import deps

    found = "none"
    stack = [dependant]
    while stack:
        d = stack.pop()
        if d.call is deps.actor:
            return "required"
        if d.call is deps.optional_actor:
            found = "optional"
        stack.extend(d.dependencies)
    return found


def _api_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with the prefix it is mounted under (FastAPI keeps included routers as nodes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))


def declare_bearer_auth(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """Declare the API key as an OpenAPI security scheme on the operations that take one.

    An ``Authorization`` header *parameter* is ignored by OpenAPI tools (the spec says so), so without the
    scheme Swagger UI's "Authorize" could not send a key. Operations that need a key get ``bearerAuth``;
    those that accept one (public reads that show more to officers) get it as optional.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearerAuth"] = {"type": "http", "scheme": "bearer",
                             "description": "an API key from `sovcarbon admin create-key` (sk_...)"}
    for prefix, route in _api_routes(routes):
        mode = _route_auth(route.dependant)
        if mode == "none":
            continue
        item = schema.get("paths", {}).get(prefix + route.path, {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            operation["parameters"] = [p for p in operation.get("parameters", []) if not (
                p.get("in") == "header" and p.get("name", "").lower() == "authorization")]
            if not operation["parameters"]:
                del operation["parameters"]
            operation["security"] = [{"bearerAuth": []}] if mode == "required" else [{}, {"bearerAuth": []}]
    return schema


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a content type as JSON
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


def _error(err: RegistryError, status: int | None = None,
           headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    body = json.dumps(err.envelope(), separators=(",", ":")).encode("utf-8")
    return status or err.http_status, body, headers or {}


MODE_CACHE_SIZE = 4096  # (method, path) pairs whose route auth mode is remembered


class HttpGuard:
    def __init__(self, app: ASGIApp, registry: Registry, routes: list[BaseRoute],
                 throttle: FailedAuthThrottle | None = None) -> None:
        self.app = app
        self.registry = registry
        self.routes = routes
        self.throttle = throttle or FailedAuthThrottle()
        self._auth_of: dict[int, str] = {}
        # The routes flattened once (rebuilt if routes are added), and the auth mode of each (method, path)
        # looked up before (bounded): a request no longer walks the route tree and its regexes (perf #10).
        self._flat: list[tuple[str, APIRoute]] = []
        self._flat_of = -1
        self._mode_of: OrderedDict[tuple[str, str], str] = OrderedDict()

    def _auth_mode(self, scope: Scope) -> str:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        if self._flat_of != len(self.routes):
            self._flat = list(_api_routes(self.routes))
            self._flat_of = len(self.routes)
            self._mode_of.clear()
        key = (method, path)
        mode = self._mode_of.get(key)
        if mode is None:
            mode = self._mode_of[key] = self._match_mode(path, method)
            if len(self._mode_of) > MODE_CACHE_SIZE:
                self._mode_of.popitem(last=False)
        return mode

    def _match_mode(self, path: str, method: str) -> str:
        for prefix, route in self._flat:
            if not path.startswith(prefix) or not route.path_regex.match(path[len(prefix):]):
                continue
            if route.methods and method not in route.methods:
                continue
            mode = self._auth_of.get(id(route))
            if mode is None:
                mode = self._auth_of[id(route)] = _route_auth(route.dependant)
            return mode
        return "none"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        private = False
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        authorization = headers.get("authorization")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                csp = CSP_DOCS if path in DOCS_PATHS or path.startswith("/docs/") else CSP_PAGES
                extra = [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
                if private:
                    extra.append((b"cache-control", b"no-store"))
                    raw = [(k, v) for k, v in raw if k.lower() != b"cache-control"]
                raw.extend((k, v) for k, v in extra if k not in present or k == b"cache-control")
                message["headers"] = raw
            await send(message)

        async def refuse(status: int, body: bytes, extra: dict[str, str]) -> None:
            hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            hdrs.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
            await send_with_headers({"type": "http.response.start", "status": status, "headers": hdrs})
            await send_with_headers({"type": "http.response.body", "body": body})

        try:
            raw_path = path.encode("utf-8")
            query = scope.get("query_string", b"")
        except UnicodeEncodeError:
            await refuse(*_error(RegistryError(1003, "invalid request: the path is not valid UTF-8")))
            return
        if b"\x00" in raw_path or b"%00" in query or b"\x00" in query:
            await refuse(*_error(RegistryError(1003, "invalid request: NUL characters are not allowed in URLs")))
            return

        mode = self._auth_mode(scope)
        if mode == "required" or (mode == "optional" and authorization):
            private = True
            client = (scope.get("client") or ("unknown", 0))[0]
            wait_s = self.throttle.retry_after_s(client)
            if wait_s:
                err = RegistryError(1001, "too many failed authentications from this address; retry later",
                                    retry_after_s=wait_s)
                await refuse(*_error(err, 429, {"Retry-After": str(wait_s)}))
                return
            try:  # a key looked up in the last seconds needs no database read: no thread hop either
                actor = (self._authenticate_cached(authorization)
                         or await anyio.to_thread.run_sync(self._authenticate, authorization))
            except RegistryError as exc:
                if authorization:  # a credential was presented and refused: a guess; a missing one is not
                    self.throttle.failed(client)
                await refuse(*_error(exc))
                return
            scope.setdefault("state", {})[ACTOR_STATE_KEY] = actor
        elif authorization:
            private = True
        known = actor_from_scope(scope)
        read_routing.route_request(scope.get("method", ""), path, known.key_id if known is not None else
                                   "ip:" + str((scope.get("client") or ("unknown", 0))[0]))

        if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            try:
                body = await self._read_body(headers, receive)
                if body and _is_json(headers.get("content-type")):
                    if len(body) <= INLINE_PARSE_BYTES:
                        value = parse_json_body(body)
                    else:  # a large body is parsed off the event loop
                        value = await anyio.to_thread.run_sync(parse_json_body, body)
                    scope[PARSED_JSON_KEY] = (body, value)  # the route takes this value, no second parse
            except _TooLarge:
                err = RegistryError(1003, f"request body larger than {MAX_BODY_BYTES} bytes",
                                    max_body_bytes=MAX_BODY_BYTES)
                await refuse(*_error(err, 413))
                return
            except RegistryError as exc:
                await refuse(*_error(exc))
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    def _authenticate_cached(self, authorization: str | None) -> Actor | None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return auth.authenticate_cached(self.registry, key.strip())

    def _authenticate(self, authorization: str | None) -> Actor:
        if authorization is None:
            raise RegistryError(1001, "missing credential: send 'Authorization: Bearer <api key>'")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise RegistryError(1001, "use 'Authorization: Bearer <api key>'")
        return auth.authenticate(self.registry, key.strip())

    @staticmethod
    async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


class _TooLarge(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class ParsedBodyRequest(Request):
    """A request whose ``json()`` is the value the guard parsed (depth-bounded, checked) from the same body
    bytes, instead of a second ``json.loads`` (perf #10). Bytes the guard did not parse (no JSON content type,
    or a request that did not pass through it) are parsed here as Starlette does."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = self.scope.get(PARSED_JSON_KEY)
            if isinstance(parsed, tuple) and len(parsed) == 2 and parsed[0] == body:
                self._json = parsed[1]
            else:
                self._json = json.loads(body)
        return self._json


class ParsedBodyRoute(APIRoute):
    """The route class of every API router: its handler sees a ``ParsedBodyRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed_body_handler(request: Request) -> Response:
            return await handler(ParsedBodyRequest(request.scope, request.receive))

        return parsed_body_handler


def actor_from_scope(scope: Scope) -> Actor | None:
    state = scope.get("state")
    if isinstance(state, dict):
        actor = state.get(ACTOR_STATE_KEY)
        if isinstance(actor, Actor):
            return actor
    return None
