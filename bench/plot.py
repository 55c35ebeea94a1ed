#!/usr/bin/env python3
"""Latency and throughput over time of one bench/scale.sh run, from its results.json.

    python3 bench/plot.py RESULTS_JSON OUTPUT_PNG
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source, target):
    with open(source) as f:
        r = json.load(f)
    s = r["series"]
    t = [p["t"] for p in s]
    labels = ", ".join(f"{k}={v}" for k, v in r["labels"].items())
    fig, (lat, thr, srv) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    fig.suptitle(f"{labels}: {r['users']} users")

    lat.plot(t, [p["p50_ms"] for p in s], label="HTTP p50")
    lat.plot(t, [p["p99_ms"] for p in s], label="HTTP p99")
    lat.plot(t, [p["message_p99_ms"] for p in s], label="chat message p99 (send to partner)")
    lat.axhline(50, color="grey", linestyle=":", label="50 ms target")
    lat.set_ylabel("latency (ms)")
    lat.legend(loc="upper left", fontsize="small")

    thr.plot(t, [p["rps"] for p in s], label="HTTP requests/s")
    thr.plot(t, [p["messages"] for p in s], label="chat messages delivered/s")
    thr.plot(t, [p["errors"] for p in s], label="errors/s", color="red")
    thr.set_ylabel("per second")
    thr.legend(loc="upper left", fontsize="small")

    srv.plot(t, [p["cpu_pct"] for p in s], label="server CPU (% of one core)", color="tab:purple")
    srv.plot(t, [p["client_cpu_pct"] for p in s], label="load client CPU", color="tab:pink")
    srv.plot(t, [p["db_qps"] for p in s], label="database queries/s", color="tab:brown")
    srv.set_ylabel("CPU % / queries/s")
    srv.set_xlabel("seconds")
    mem = srv.twinx()
    mem.plot(t, [p["rss_mb"] for p in s], label="server memory (MB)", color="tab:green", linestyle="--")
    mem.set_ylabel("MB")
    lines = srv.get_legend_handles_labels()[0] + mem.get_legend_handles_labels()[0]
    names = srv.get_legend_handles_labels()[1] + mem.get_legend_handles_labels()[1]
    srv.legend(lines, names, loc="upper left", fontsize="small")

    fig.tight_layout()
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
