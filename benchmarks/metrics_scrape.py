"""Scrape time of /metrics with 10,000 tracked jobs, over HTTP from the daemons' own server.

The metrics carry no job ids, so the page has a fixed number of series whatever the number of jobs;
what grows with the jobs is the per-poll count (``Reconciler._count``'s loop) and the histograms'
sample counts. This fills one ``Metrics`` as a daemon tracking N jobs would (N jobs spread over the
states, one observation per job in every latency histogram, N reconciles) and times GET /metrics
against the same-run baseline: a fresh ``Metrics`` (no job ever seen).
Usage: python benchmarks/metrics_scrape.py [N]   (default 10000)
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import urllib.request

from bridge.observability.metrics import SOURCES, STATES, Metrics
from bridge.observability.server import serve

ROUNDS = 200


def filled(n: int) -> Metrics:
    m, rng = Metrics(), random.Random(13)
    for source in SOURCES:
        m.tracked.labels(source).set(n)
        for state in STATES:
            m.jobs.labels(source, state).set(n // len(STATES))
        for _ in range(n):
            for family in (m.intake, m.to_running, m.status_lag, m.to_final):
                family.labels(source).observe(rng.expovariate(1.0))
            m.reconcile.labels(source).observe(rng.expovariate(200.0))
            m.transitions.labels(source, "create").inc()
    return m


def scrape_ms(m: Metrics) -> tuple[float, float, int]:
    server = serve(m, lambda: (True, ""), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        times, size = [], 0
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            with urllib.request.urlopen(url, timeout=5) as resp:
                size = len(resp.read())
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        server.shutdown()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], size


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    base = scrape_ms(Metrics())
    t0 = time.perf_counter()
    m = filled(n)
    fill_s = time.perf_counter() - t0
    full = scrape_ms(m)
    print(f"baseline (no jobs):   p50 {base[0]:.2f} ms  p99 {base[1]:.2f} ms  {base[2]} bytes")
    print(f"{n} tracked jobs:   p50 {full[0]:.2f} ms  p99 {full[1]:.2f} ms  {full[2]} bytes"
          f"  (filled in {fill_s:.2f} s)")  # fmt: skip
    print(f"ratio p50 {full[0] / base[0]:.2f}  p99 {full[1] / base[1]:.2f}  (1.0: the page does not grow with jobs)")


if __name__ == "__main__":
    main()
