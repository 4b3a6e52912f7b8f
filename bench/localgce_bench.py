"""localgce: start-up time to "listening" and one GET round trip through the real client.

    .venv/bin/python bench/localgce_bench.py [-n 200] [--starts 5]

localgce runs API-only (``--no-vms``): no VM boots and no health prober, whatever the host.
Each figure is a median after warm-up, printed next to a stdlib baseline measured in the
same run (``python -m http.server`` start-up; a trivial stdlib HTTP/1.1 GET handler), so
the numbers can be compared across machines. Targets: start-up < 2 s, round
trip < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVE = [sys.executable, "-m", "localgce", "serve", "--no-vms", "--port", "0"]
sys.path.insert(0, ROOT)


def time_start(cmd, pattern):
    env = dict(os.environ, PYTHONPATH=ROOT)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    m = re.search(pattern, line)
    if not m:
        proc.kill()
        raise SystemExit(f"no listening line from {cmd}: {line!r}")
    return proc, elapsed, m


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def median_ms(fn, n, warmup=20):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


class _Trivial(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = json.dumps({"kind": "compute#zone", "name": "us-central1-a"}).encode()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="GET round trips measured")
    ap.add_argument("--starts", type=int, default=5, help="server starts measured")
    args = ap.parse_args()
    py = sys.executable

    # -- start-up ------------------------------------------------------------------------
    lg_starts, base_starts = [], []
    for _ in range(args.starts):
        proc, t, _m = time_start(SERVE, r"listening on http://[\d.]+:(\d+)")
        lg_starts.append(t)
        stop(proc)
        proc, t, _m = time_start([py, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"], r"port (\d+)")
        base_starts.append(t)
        stop(proc)
    lg_start, base_start = statistics.median(lg_starts), statistics.median(base_starts)

    # -- round trip ----------------------------------------------------------------------
    import requests
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1
    from google.oauth2.credentials import Credentials

    proc, _t, m = time_start(SERVE, r"listening on (http://[\d.]+:\d+)")
    url = m.group(1)
    try:
        opts = ClientOptions(api_endpoint=url)
        creds = Credentials(token="bench")
        instances = compute_v1.InstancesClient(credentials=creds, client_options=opts, transport="rest")
        zone_ops = compute_v1.ZoneOperationsClient(credentials=creds, client_options=opts, transport="rest")
        op = instances.insert_unary(project="bench", zone="us-central1-a", instance_resource=compute_v1.Instance(
            name="vm-1", machine_type="zones/us-central1-a/machineTypes/e2-small",
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                           initialize_params=compute_v1.AttachedDiskInitializeParams(
                                               source_image="projects/cos-cloud/global/images/family/cos-stable"))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))
        zone_ops.wait(project="bench", zone="us-central1-a", operation=op.name)
        client_rt = median_ms(lambda: instances.get(project="bench", zone="us-central1-a", instance="vm-1"), args.n)
        session = requests.Session()
        path = url + "/compute/v1/projects/bench/zones/us-central1-a/instances/vm-1"
        raw_rt = median_ms(lambda: session.get(path, headers={"Authorization": "Bearer bench"}).content, args.n)
    finally:
        stop(proc)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trivial)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = requests.Session()
        burl = f"http://127.0.0.1:{server.server_address[1]}/zone"
        base_rt = median_ms(lambda: session.get(burl).content, args.n)
    finally:
        server.shutdown()
        server.server_close()

    print(f"start-up to 'listening'     localgce {lg_start * 1000:7.1f} ms   baseline http.server "
          f"{base_start * 1000:7.1f} ms   ratio {lg_start / base_start:5.2f}   target < 2000 ms: "
          f"{'OK' if lg_start < 2 else 'MISSED'}")
    print(f"GET instance, real client   localgce {client_rt:7.2f} ms   baseline trivial GET "
          f"{base_rt:7.2f} ms   ratio {client_rt / base_rt:5.2f}   target < 20 ms: "
          f"{'OK' if client_rt < 20 else 'MISSED'}")
    print(f"GET instance, raw requests  localgce {raw_rt:7.2f} ms   baseline trivial GET "
          f"{base_rt:7.2f} ms   ratio {raw_rt / base_rt:5.2f}   (server cost without the client)")
    print(f"(medians; {args.starts} starts, {args.n} round trips after 20 warm-up)")


if __name__ == "__main__":
    main()
