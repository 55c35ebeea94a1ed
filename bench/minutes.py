#!/usr/bin/env python3
"""Steady state of a load scenario run, minute by minute (issue 17).

    python3 bench/minutes.py bench/results/<run>/results.json [REFERENCE_MINUTE]

Reads the per-second series of `bench/scale.sh`'s results.json and prints, for every whole
minute: HTTP requests and chat messages per second, server CPU (all of nyaya's processes, % of
one core), CPU milliseconds per action (an HTTP request or a delivered chat message), database
statements per action, the median and the worst of the per-second HTTP p99s, and resident
memory at the minute's end. The last columns compare CPU per action, statements per action,
p99 and memory with the reference minute (5 unless given): a steady state stays within 10%.
"""
import json
import statistics
import sys


def minute_rows(series):
    by_minute = {}
    for point in series:
        by_minute.setdefault(point["t"] // 60 + 1, []).append(point)
    for minute, points in sorted(by_minute.items()):
        if len(points) < 60:
            continue  # a partial minute at the end
        actions = sum(p["rps"] + p["messages"] for p in points)
        cpu_seconds = sum(p["cpu_pct"] for p in points) / 100
        p99s = [p["p99_ms"] for p in points if p["rps"] > 0]
        yield {
            "minute": minute,
            "http_per_s": sum(p["rps"] for p in points) / len(points),
            "messages_per_s": sum(p["messages"] for p in points) / len(points),
            "cpu_pct": statistics.mean(p["cpu_pct"] for p in points),
            "cpu_ms_per_action": 1000 * cpu_seconds / actions if actions else 0.0,
            "statements_per_action": sum(p["db_qps"] for p in points) / actions if actions else 0.0,
            "p99_ms": statistics.median(p99s) if p99s else 0.0,
            "worst_p99_ms": max(p99s, default=0.0),
            "rss_mb": points[-1]["rss_mb"],
            "errors": sum(p["errors"] for p in points),
        }


def main():
    report = json.load(open(sys.argv[1]))
    reference = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rows = list(minute_rows(report["series"]))
    ref = next((r for r in rows if r["minute"] == reference), None)
    if ref is None:
        sys.exit(f"the run has no whole minute {reference}")

    def ratio(row, key):
        return row[key] / ref[key] if ref[key] else float("nan")

    print(
        "min  http/s  msg/s  cpu%  cpu-ms/action  stmts/action  p99-ms(median) p99-ms(worst)  rss-MB  errors"
        f"  | vs minute {reference}: cpu/action stmts/action p99 rss"
    )
    for r in rows:
        print(
            f"{r['minute']:3d} {r['http_per_s']:7.1f} {r['messages_per_s']:6.1f} {r['cpu_pct']:5.1f}"
            f" {r['cpu_ms_per_action']:14.3f} {r['statements_per_action']:13.2f} {r['p99_ms']:15.1f}"
            f" {r['worst_p99_ms']:13.1f} {r['rss_mb']:7.1f} {r['errors']:7d}"
            f"  | {ratio(r, 'cpu_ms_per_action'):10.2f} {ratio(r, 'statements_per_action'):12.2f}"
            f" {ratio(r, 'p99_ms'):5.2f} {ratio(r, 'rss_mb'):5.2f}"
        )
    after = [r for r in rows if r["minute"] >= reference]
    worst = {
        key: max(abs(ratio(r, key) - 1) for r in after)
        for key in ("cpu_ms_per_action", "statements_per_action", "p99_ms", "rss_mb")
    }
    print(
        f"largest drift from minute {reference} on: "
        + ", ".join(f"{key} {100 * value:.1f}%" for key, value in worst.items())
    )


if __name__ == "__main__":
    main()
