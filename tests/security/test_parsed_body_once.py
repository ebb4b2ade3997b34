"""The JSON body of a request is parsed once, by the guard (depth-bounded, checked), and the route takes that
value: FastAPI's own ``request.json()`` gets it from ``ParsedBodyRequest`` (perf issue #10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from world import Api, error_code

from sovcarbon.api.app import create_app
from sovcarbon.api.guard import PARSED_JSON_KEY, ParsedBodyRequest, ParsedBodyRoute, _api_routes
from sovcarbon.services.registry import Registry


def _counting_loads(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[int]:
    """Count the json.loads calls (anywhere in the process) that parse exactly ``body``."""
    seen: list[int] = []
    real = json.loads

    def loads(s: Any, *args: Any, **kwargs: Any) -> Any:
        if s == body:
            seen.append(1)
        return real(s, *args, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    return seen


def test_a_transfer_body_is_parsed_once(world: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api = world
    body = json.dumps({"from_account_id": api.ids["foundation_acc"], "to_account_id": api.ids["company_acc"],
                       "quantity_kg": 1000}).encode()
    seen = _counting_loads(monkeypatch, body)
    resp = api.client.post("/v1/transfers", content=body,
                           headers={**api.headers("admin"), "Content-Type": "application/json"})
    monkeypatch.undo()
    assert resp.status_code in (201, 403), resp.text  # whatever the rules say, the body was read
    assert len(seen) == 1, f"the body was parsed {len(seen)} times"


def test_refused_json_is_still_refused_before_the_route(world: Api) -> None:
    api = world
    for raw in (b'{"quantity_kg": NaN}', b"[" * 100 + b"]" * 100, b'{"a": "x\\u0000"}', b"{"):
        resp = api.client.post("/v1/transfers", content=raw,
                               headers={**api.headers("admin"), "Content-Type": "application/json"})
        assert resp.status_code == 400 and error_code(resp) == 1003, (raw[:20], resp.text)


async def _request(scope_extra: dict[str, Any], body: bytes) -> ParsedBodyRequest:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], **scope_extra}
    return ParsedBodyRequest(scope, receive)


def test_the_request_takes_the_guards_value_only_for_the_same_bytes() -> None:
    import anyio

    marker = {"parsed": "by the guard"}

    async def main() -> None:
        same = await _request({PARSED_JSON_KEY: (b'{"a":1}', marker)}, b'{"a":1}')
        assert await same.json() is marker
        other = await _request({PARSED_JSON_KEY: (b'{"a":1}', marker)}, b'{"a":2}')
        assert await other.json() == {"a": 2}
        unparsed = await _request({}, b'{"b":[1]}')
        assert await unparsed.json() == {"b": [1]}

    anyio.run(main)


def test_every_api_route_with_a_body_takes_the_guards_value(registry: Registry) -> None:
    app = create_app(registry)
    with_body = [r for prefix, r in _api_routes(app.router.routes) if (prefix + r.path).startswith("/v1/")
                 and r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(with_body) > 20
    plain = [f"{sorted(r.methods)} {r.path}" for r in with_body if not isinstance(r, ParsedBodyRoute)]
    assert not plain, plain
