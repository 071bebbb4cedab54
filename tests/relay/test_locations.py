"""Location posts through the API and the stream, on both listeners, and the
coordinates that are refused (NaN and Infinity literals, strings, booleans, out of
range)."""

from __future__ import annotations

import trio

from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)
from tests.relay.work_env import MY_NUMBER, audit, code, create, history, quiet, until


async def test_a_location_reaches_both_zones_once_per_client_id(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            message = await create(env, room, "locations", "suzuki", "internet", lat=35.6812,
                                   lon=139.7671, accuracy_m=12, label="東京駅 丸の内口",
                                   client_id="l-1")
            assert (message["kind"], message["body"]) == ("location", "東京駅 丸の内口")
            assert message["location"] == {"lat": 35.6812, "lon": 139.7671,
                                           "accuracy_m": 12.0, "label": "東京駅 丸の内口"}
            for ws in (office, partner):
                assert (await until(ws, "message.created"))["message"] == message
            again = await create(env, room, "locations", "suzuki", "internet", lat=0, lon=0,
                                 client_id="l-1")
            assert again == message
            assert await quiet(office) == []
            nursery.cancel_scope.cancel()
    edge = await create(env, room, "locations", "hoikuen", "internet", lat=-90, lon=180)
    assert edge["location"] == {"lat": -90.0, "lon": 180.0, "accuracy_m": None, "label": None}
    assert edge["body"] == ""
    assert [m["kind"] for m in await history(env, room, "hoikuen", "internet")] == ["location"] * 2
    assert await audit(env, "location.posted") == []  # a message, not an audited action


async def test_hostile_coordinates_are_refused_and_nothing_is_posted(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    path = f"/api/v1/rooms/{room}/locations"
    raw_cases = [  # JSON texts Python's parser takes, each a refusal here
        ('{"lat": NaN, "lon": 139.7}', 400, "invalid_coordinates"),
        ('{"lat": 35.6, "lon": Infinity}', 400, "invalid_coordinates"),
        ('{"lat": -Infinity, "lon": 139.7}', 400, "invalid_coordinates"),
        ('{"lat": 1e400, "lon": 139.7}', 400, "invalid_coordinates"),
        ('{"lat": 35.6, "lon": 139.7, "accuracy_m": NaN}', 400, "invalid_coordinates"),
        ('{"lat": 1' + "0" * 400 + ', "lon": 139.7}', 400, "invalid_coordinates"),
    ]
    for raw, status, want in raw_cases:
        r = await env.call("POST", path, raw=raw.encode(), as_="tanaka")
        assert (r.status, code(r)) == (status, want), raw
    cases = [
        ({"lat": 91, "lon": 0}, "invalid_coordinates"),
        ({"lat": -90.0001, "lon": 0}, "invalid_coordinates"),
        ({"lat": 0, "lon": 180.5}, "invalid_coordinates"),
        ({"lat": 0, "lon": 0, "accuracy_m": -1}, "invalid_coordinates"),
        ({"lat": 0, "lon": 0, "accuracy_m": 1e9}, "invalid_coordinates"),
        ({"lat": "35.6", "lon": 139.7}, "invalid_field"),
        ({"lat": True, "lon": 139.7}, "invalid_field"),
        ({"lat": [35.6], "lon": 139.7}, "invalid_field"),
        ({"lon": 139.7}, "invalid_field"),
        ({"lat": 0, "lon": 0, "label": "x" * 201}, "text_too_long"),
        ({"lat": 0, "lon": 0, "label": 7}, "invalid_field"),
    ]
    for fields, want in cases:
        r = await env.call("POST", path, fields, as_="tanaka")
        assert (r.status, code(r)) == (400, want), fields
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", path, {"lat": 0, "lon": 0}, as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    r = await env.call("POST", path, {"lat": 0, "lon": 0, "label": f"{MY_NUMBER} 宅"},
                       as_="tanaka")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    assert [e["data"]["in"] for e in await audit(env, "outbound.block")] == ["location_label"]
    assert await history(env, room) == []
