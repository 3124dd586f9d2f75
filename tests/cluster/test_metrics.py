"""Operators see every live session's figures; hosts their own; viewers none."""

from __future__ import annotations

import asyncio
import re

from helpers.clients import on_air, wait_for
from helpers.relay import Relay
from helpers.rooms import staffed

ENV = {"STALLCAST_METRICS_INTERVAL_S": "1"}


async def test_figures_follow_viewers_and_sales(redis_url: str) -> None:
    async with staffed(redis_url, ENV, "Night shift") as staff:
        server, api, host, operator, room = (staff.server, staff.api, staff.host,
                                             staff.operator, staff.room)
        http = api.http
        _, other_host = await server.new_host("Other")
        rid = room["room_id"]
        product = await api.product(host)
        async with on_air(server.base, room, viewers=3) as (pub, viewers):
            assert await wait_for(lambda: all(len(v.video_frames) > 10 for v in viewers), 20)
            buyer = await api.pin_and_buy(host, rid, product["product_id"], 2, "metrics-buy-1")
            await asyncio.sleep(2.5)
            sessions = await api.live_sessions(operator)
            assert len(sessions) == 1
            fig = sessions[0]["figures"]
            assert fig["viewers"] == 3 and fig["peak_viewers"] == 3 and fig["live"] is True
            assert fig["ingest_bps"] > 50_000 and fig["fps"] > 10
            assert (fig["width"], fig["height"]) == (640, 480)
            assert fig["card_pins"] == 1 and fig["orders"] == 1 and fig["gmv"] == 2 * 3900
            series = (await api.ok("GET", f"/api/ops/sessions/{sessions[0]['session_id']}",
                                   operator))["series"]
            joins = [ms for sample in series for ms in sample["join_ms"]]
            # Viewers joined while the publisher was still connecting: their waits include it.
            assert len(joins) == 3 and all(0 < ms < 10_000 for ms in joins)

            # Prometheus: node figures and per-room gauges, no per-viewer labels.
            async with http.get(f"{server.base}/metrics",
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
                assert resp.status == 200
                text = await resp.text()
            assert re.search(rf'stallcast_room_viewers{{room="{rid}"}} 3\.0', text)
            assert re.search(r"^stallcast_viewers 3\.0$", text, re.M)
            assert re.search(r"^stallcast_forwarded_packets_total [1-9]", text, re.M)
            assert re.search(r"^stallcast_orders_total 1\.0$", text, re.M)
            assert 'stallcast_viewer_join_seconds_count 3.0' in text
            assert re.search(r'^stallcast_gc_pause_seconds_count{generation="0"} [1-9]', text,
                             re.M)
            assert "viewer=" not in text and "session=" not in text

            # Hosts see their own sessions only; viewers and strangers see nothing.
            assert len(await api.live_sessions(host)) == 1
            assert await api.live_sessions(other_host) == []
            sid = sessions[0]["session_id"]
            for token, status in [(other_host, 403), (buyer, 403), ("nonsense", 401),
                                  (None, 401)]:
                code, _ = await api.call("GET", f"/api/ops/sessions/{sid}", token)
                assert code == status
            for token, status in [(buyer, 403), (None, 401), (host, 403)]:
                code, _ = await api.call("GET", "/metrics", token)
                assert code == status
            code, _ = await api.call("GET", "/api/ops/sessions", buyer)
            assert code == 403

            for v in viewers[:2]:
                await v.stop()
            await asyncio.sleep(2.5)
            fig = (await api.live_sessions(operator))[0]["figures"]
            assert fig["viewers"] == 1 and fig["peak_viewers"] == 3

            # The publisher's round trip comes from ICE consent checks, one every 4-6 s.
            for _ in range(60):
                fig = (await api.live_sessions(operator))[0]["figures"]
                if fig["uplink_rtt_ms"] is not None:
                    break
                await asyncio.sleep(0.25)
            assert fig["uplink_rtt_ms"] is not None and 0 < fig["uplink_rtt_ms"] < 1000
            async with http.get(f"{server.base}/metrics",
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
                text = await resp.text()
            assert re.search(rf'stallcast_room_uplink_rtt_seconds{{room="{rid}"}} 0\.\d', text)
        await asyncio.sleep(1.5)
        assert await api.live_sessions(operator) == []
        report = (await api.ok("GET", "/api/ops/reports", operator))["reports"][0]
        assert report["peak_viewers"] == 3 and report["orders"] == 1
        assert report["gmv"] == 7800 and report["unique_viewers"] == 3
        assert report["conversion"] == round(1 / 3, 4)
        assert report["ingest"]["average_bps"] > 50_000 and report["duration_s"] > 3
        assert report["average_watch_s"] > 2
        assert 0 < report["ingest"]["average_rtt_ms"] < 1000
        assert (await api.ok("GET", "/api/ops/reports", other_host))["reports"] == []


async def test_uplink_loss_shows_in_the_session_figures(redis_url: str) -> None:
    async with staffed(redis_url, ENV) as staff, Relay.opened(drop=0.05) as relay, \
            on_air(staff.server.base, staff.room, answer_filter=relay.rewrite_answer):
        api, operator = staff.api, staff.operator
        assert await wait_for(lambda: relay.forwarded > 300, 20)
        await asyncio.sleep(6)
        live = (await api.live_sessions(operator))[0]
        samples = (await api.ok("GET", f"/api/ops/sessions/{live['session_id']}",
                                operator))["series"]
        # One-second samples hold ~40 video packets each: judge the loss over them all.
        measured = [s["uplink_loss"] for s in samples if s["ingest_bps"] > 0][1:]
        average = sum(measured) / len(measured)
        share = relay.dropped / (relay.dropped + relay.forwarded)
        assert 0.02 < share < 0.09
        assert 0.02 < average < 0.10, (measured, share)
        assert sum(s["nacks_upstream"] for s in samples) > 0
        assert live["figures"]["viewers"] == 1


async def test_report_after_the_host_ends_with_one_viewer(redis_url: str) -> None:
    """Ending with DELETE right after viewers joined still writes the session's report."""
    async with staffed(redis_url, ENV) as staff, \
            on_air(staff.server.base, staff.room) as (pub, [viewer]):
        api, operator = staff.api, staff.operator
        assert await wait_for(lambda: len(viewer.video_frames) > 10, 20)
        await asyncio.sleep(2.2)
        await pub.stop()
        await asyncio.sleep(2.2)  # samples taken after the publisher went away
        reports = (await api.ok("GET", "/api/ops/reports", operator))["reports"]
        assert len(reports) == 1 and reports[0]["peak_viewers"] == 1
        assert await api.live_sessions(operator) == []
        samples = (await api.ok("GET", f"/api/ops/sessions/{reports[0]['session_id']}",
                                operator))["series"]
        assert all(s["keyframes_sent"] >= 0 and s["nacks_upstream"] >= 0 for s in samples)
