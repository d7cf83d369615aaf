#!/usr/bin/env python3
"""Records, once a second, the proxy counters the generated CloudWatch alarms read, while a
`loadgen run` or `loadgen faults` run is going: the fixture the alarm-evaluation model is
tested against (reports/tests/fixtures/rollout/).

Usage: scripts/record-alarm-series.py RUN_DIR OUT.csv
Waits for RUN_DIR/proxy.toml (written by the harness when it launches the proxy), reads its
`admin_listen`, and scrapes /metrics every second until the proxy stops answering after it
has answered at least once. Columns are cumulative counters; the test takes differences.
"""
import csv
import re
import sys
import time
import tomllib
import urllib.request

COLUMNS = {
    "requests": re.compile(r'^filter_proxy_requests_total\{'),
    "requests_5xx": re.compile(r'^filter_proxy_requests_total\{.*status="5xx"'),
    "fail_open": re.compile(r'^filter_proxy_store_unavailable_total\{.*mode="open"'),
    "fail_closed": re.compile(r'^filter_proxy_store_unavailable_total\{.*mode="closed"'),
    "pool_exhausted": re.compile(r'^filter_proxy_pool_exhausted_total\b'),
    "upstream_errors": re.compile(r'^filter_proxy_upstream_errors_total\{'),
}


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=0.8) as r:
        text = r.read().decode()
    row = {k: 0.0 for k in COLUMNS}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for key, pattern in COLUMNS.items():
            if pattern.search(line):
                row[key] += float(line.rsplit(" ", 1)[1])
    return row


def main():
    run_dir, out = sys.argv[1], sys.argv[2]
    config = f"{run_dir}/proxy.toml"
    deadline = time.monotonic() + 600
    while True:
        try:
            with open(config, "rb") as f:
                addr = tomllib.load(f)["server"]["admin_listen"]
            break
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            if time.monotonic() > deadline:
                sys.exit(f"no {config} within 600 s")
            time.sleep(0.2)
    rows, start, answered = [], None, False
    next_tick = time.monotonic()
    while True:
        try:
            row = scrape(addr)
        except OSError:
            if answered:
                break
            time.sleep(0.2)
            next_tick = time.monotonic()
            continue
        answered = True
        now = time.monotonic()
        start = start if start is not None else now
        row["t_s"] = round(now - start, 1)
        rows.append(row)
        next_tick += 1.0
        time.sleep(max(0.0, next_tick - time.monotonic()))
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["t_s", *COLUMNS])
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"{len(rows)} samples -> {out}")


if __name__ == "__main__":
    main()
