#!/usr/bin/env python3
"""Summarizes bench/scale.sh runs (results.json files) into the plan's before/after table.

    python3 bench/plan_table.py RUN_DIR...     # prints Markdown
"""
import json
import sys


def row(path):
    d = json.load(open(path))
    labels, s = d["labels"], d["server"]
    # Route classes (the p99 target); connect and login are one-off, notifications are
    # deliveries and get their own column.
    classes = [c for c in d["classes"] if c["name"] not in ("connect", "login") and not c["name"].startswith("notify")]
    notify = max((c["p99_ms"] for c in d["classes"] if c["name"].startswith("notify")), default=0)
    worst = max(classes, key=lambda c: c["p99_ms"]) if classes else {"name": "-", "p99_ms": 0}
    p50 = max((c["p50_ms"] for c in classes), default=0)
    delivered = sum(v["delivered"] for v in d["deliveries"].values())
    return {
        "setup": f'{labels.get("mode")}, {labels.get("db")}' + (f', {labels["workers"]} workers' if labels.get("mode") == "after" else ", 1 process"),
        "users": d["users"],
        "connected": d["sockets"]["connected"],
        "rps": d["http_rps"],
        "msgs": d["messages_per_s"],
        "p50": p50,
        "p99": worst["p99_ms"],
        "worst": worst["name"],
        "qpm": s["db_queries_per_min"],
        "reads": "-" if s.get("db_reads_per_min") is None else f'{s["db_reads_per_min"]:.0f}',
        "hit": s["cache_hit_ratio"],
        "cpu": s["cpu_avg_pct"],
        "rss": s["rss_max_mb"],
        "errors": d["errors"],
        "stale": f'{d["stale_reads"]} of {sum(d["checks"].values())}',
        "lost": f'{d["lost_messages"] + d["lost_notifications"]} of {sum(v["expected"] for v in d["deliveries"].values())}',
        "delivered": delivered,
        "notify": notify,
        "cut": cut(s, d.get("baseline"), "db_queries_per_min"),
        "reads_cut": cut(s, d.get("baseline"), "db_reads_per_min"),
    }


def cut(server, baseline, key):
    """A per-minute database figure against the "before" run given as BASELINE."""
    before = (baseline or {}).get("server", {}).get(key)
    if not before or server.get(key) is None:
        return "-"
    return f'{(1 - server[key] / before) * 100:.0f}% fewer'



def main():
    rows = [row(f"{p.rstrip('/')}/results.json") for p in sys.argv[1:]]
    print("| setup | users | sockets | HTTP req/s | chat msg/s | worst p50 ms | worst p99 ms (class) | notification p99 ms | DB queries/min | vs before | DB reads/min | reads vs before | per request | cache hits | server CPU % of a core | RSS MB | errors | stale reads | lost |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        hit = r["hit"]
        hit = f"{hit * 100:.1f}%" if isinstance(hit, (int, float)) and r["setup"].startswith("after") else "off"
        print(f'| {r["setup"]} | {r["users"]} | {r["connected"]} | {r["rps"]:.0f} | {r["msgs"]:.1f} | {r["p50"]:.1f} | {r["p99"]:.1f} ({r["worst"]}) '
              f'| {r["notify"]:.1f} | {r["qpm"]:.0f} | {r["cut"]} | {r["reads"]} | {r["reads_cut"]} | {r["qpm"] / 60 / max(r["rps"], 0.001):.2f} | {hit} | {r["cpu"]:.0f} | {r["rss"]:.0f} | {r["errors"]} | {r["stale"]} | {r["lost"]} |')


if __name__ == "__main__":
    main()
