"""The OpenAPI document describes exactly the routes the server serves, and real answers fit it."""

from __future__ import annotations

import aiohttp

from helpers.servers import Running

# Pages and static files are for browsers, not part of the API contract.
NOT_API = ("/", "/studio", "/studio/{room_id}", "/watch/{room_id}", "/classes",
           "/classes/{class_id}", "/ops", "/shows/{show_id}", "/channels/{slug}")


def served_routes(server: Running) -> set[tuple[str, str]]:
    out = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path is None or path in NOT_API or route.method == "HEAD":
            continue
        out.add((path, route.method.lower()))
    return out


async def test_document_matches_routes(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base}/api/openapi.json") as resp:
            assert resp.status == 200
            doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    documented.add(("/api/openapi.json", "get"))
    assert served_routes(server) == documented


async def test_room_answer_has_the_documented_fields(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base}/api/openapi.json") as resp:
            doc = await resp.json()
    schema = doc["components"]["schemas"]["Room"]
    _, token = await server.new_host()
    room = await server.new_room(token)
    assert set(schema["required"]) <= set(room)
    assert set(room) <= set(schema["properties"])
    types = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}
    for key, value in room.items():
        prop = schema["properties"][key]
        assert (value is None and prop.get("nullable")) or isinstance(
            value, types[prop["type"]]), key
