"""The Grafana dashboard only queries metrics the server really exports."""

from __future__ import annotations

import json
import re

import redis.asyncio as aioredis

from helpers import ROOT
from server.ops.counters import SessionCounters
from server.ops.metrics import NodeMetrics

DASHBOARD = ROOT / "configs" / "grafana-dashboard.json"


def test_dashboard_queries_exported_metrics() -> None:
    node = NodeMetrics()
    SessionCounters(aioredis.Redis(), node.registry)  # registers the commerce counters
    node.nacks.labels(direction="upstream")
    exported = set()
    for metric in node.registry.collect():
        exported.add(metric.name)
        exported.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            exported.add(metric.name + "_total")
        if metric.type == "histogram":
            exported.add(metric.name + "_bucket")
    dash = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dash["panels"] for target in panel["targets"]
               for name in re.findall(r"stallcast_[a-z0-9_]+", target["expr"])}
    assert queried and not queried - exported, queried - exported
    assert len(dash["panels"]) >= 15
