"""/metrics: the Prometheus text exposition of what relayd counts.

Read-only: it gathers counters kept by the hub, the store's writer, the app's answers,
the server's connections and the disarm jobs, and renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.app import RelayApp


def metrics_text(app: "RelayApp") -> str:
    groups, ops = app.store.commit_stats
    hub = app.hub
    lines = [
        "# TYPE kakehashi_stream_sessions gauge",
        f"kakehashi_stream_sessions {hub.sessions()}",
        "# TYPE kakehashi_events_delivered_total counter",
        f"kakehashi_events_delivered_total {hub.delivered}",
        "# TYPE kakehashi_stream_overflows_total counter",
        f"kakehashi_stream_overflows_total {hub.overflowed}",
        "# TYPE kakehashi_messages_posted_total counter",
        f"kakehashi_messages_posted_total {app.ctx.messages_posted}",
        "# TYPE kakehashi_store_group_commits_total counter",
        f"kakehashi_store_group_commits_total {groups}",
        "# TYPE kakehashi_store_ops_committed_total counter",
        f"kakehashi_store_ops_committed_total {ops}",
        "# TYPE kakehashi_http_responses_total counter",
        *(f'kakehashi_http_responses_total{{zone="{z}",code="{c}"}} {n}'
          for (z, c), n in sorted(app.responses.items())),
        "# TYPE kakehashi_open_connections gauge",
        *(f'kakehashi_open_connections{{zone="{z}"}} {n}'
          for z, n in sorted(app.open_connections().items())),
        *app.jobs.metric_lines(),
    ]
    return "\n".join(lines) + "\n"
