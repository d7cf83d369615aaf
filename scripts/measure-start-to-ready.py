#!/usr/bin/env python3
"""Measures filter-proxy's start-to-ready time: from spawning the process to the first
200 from the admin `/readyz`, polled every 2 ms. Also the time from SIGTERM to exit with no
client connected (drain of an idle proxy). The figures feed deploy/inputs.toml [measured].

Usage: scripts/measure-start-to-ready.py [RUNS] [BINARY]
  RUNS    starts to measure (default 20)
  BINARY  default target/release/filter-proxy
Each start runs on a copy of scenarios/demo with fresh ports.
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(addr):
    try:
        with urllib.request.urlopen(f"http://{addr}/readyz", timeout=0.5) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def one(binary, workdir):
    proxy, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config = os.path.join(workdir, "proxy.toml")
    text = open(os.path.join(ROOT, "scenarios/demo/proxy.toml")).read()
    text = re.sub(r'(?m)^listen = ".*"$', f'listen = "{proxy}"', text)
    text = re.sub(r'(?m)^admin_listen = ".*"$', f'admin_listen = "{admin}"', text)
    open(config, "w").write(text)
    start = time.monotonic()
    child = subprocess.Popen([binary, "--config", config],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready(admin):
            if child.poll() is not None:
                sys.exit(f"{binary} exited with {child.returncode} before ready")
            if time.monotonic() - start > 30:
                sys.exit("not ready within 30 s")
            time.sleep(0.002)
        ready_ms = (time.monotonic() - start) * 1000
        stop = time.monotonic()
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        drain_ms = (time.monotonic() - stop) * 1000
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return ready_ms, drain_ms


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target/release/filter-proxy")
    tmp = tempfile.mkdtemp(prefix="start-to-ready.")
    try:
        demo = os.path.join(tmp, "demo")
        shutil.copytree(os.path.join(ROOT, "scenarios/demo"), demo)
        results = [one(binary, demo) for _ in range(runs)]
    finally:
        shutil.rmtree(tmp)
    ready_ms = [r for r, _ in results]
    drain_ms = [d for _, d in results]
    print(f"runs={runs}")
    print(f"start_to_ready_ms median={statistics.median(ready_ms):.1f} max={max(ready_ms):.1f}")
    print(f"idle_drain_ms median={statistics.median(drain_ms):.1f} max={max(drain_ms):.1f}")


if __name__ == "__main__":
    main()
