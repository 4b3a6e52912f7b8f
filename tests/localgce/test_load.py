"""localgce/vm/load.py, the steady load of tests/vm_e2e/test_start_first.py and bench/update_downtime_bench.py,
against a real HTTP server on 127.0.0.1: what it counts (failures, the longest gap without an answer, when only the
new body answered) and its bounds."""

import http.server
import itertools
import threading
import time

from localgce.vm.load import Load


class Server:
    """GET / answers ``body``; stop() closes the port (connections refused), start() opens it again."""

    def __init__(self, body):
        self.body, self.port, self.httpd = body, 0, None

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port


def wait_for(pred, what, tries=400):
    for _ in range(tries):
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("never happened: " + what)


def test_a_switch_without_outage_counts_no_failure_and_the_moment_only_the_new_body_answers():
    srv = Server("v1\n").start()
    try:
        with Load(srv.url, pause=0.01) as load:
            t0 = time.monotonic()
            srv.body = "v2\n"
            wait_for(lambda: load.answers.count("v2\n") >= 20, "v2 answering")
        summary = load.window(t0).summary("v2\n")
    finally:
        srv.stop()
    assert load.failures == [] and not load.bounded
    assert summary["failed"] == 0 and "v2\n" in summary["answers"]
    events = load.window(t0).events
    first_v2 = next(e for e in events if e[2] == "v2\n")
    assert summary["all_new_s"] == first_v2[1] - t0
    assert all(e[2] == "v2\n" for e in events[events.index(first_v2):])
    # No gap longer than the spacing of the answers themselves.
    answered = [load.window(t0).before[1]] + [e[1] for e in events]
    assert summary["longest_gap_s"] == max(b - a for a, b in itertools.pairwise(answered))


def test_an_outage_counts_its_failures_and_a_gap_at_least_as_long():
    srv = Server("v1\n").start()
    try:
        with Load(srv.url, pause=0.01, timeout=2) as load:
            t0 = time.monotonic()
            srv.stop()
            down = time.monotonic()
            wait_for(lambda: len(load.window(down).failures()) >= 5, "failures while the port is closed")
            srv.body = "v2\n"
            srv.start()  # the same port
            up = time.monotonic()
            wait_for(lambda: load.answers.count("v2\n") >= 5, "v2 answering")
        window = load.window(t0)
    finally:
        srv.stop()
    summary = window.summary("v2\n")
    assert summary["failed"] == len(window.failures()) >= 5
    # (one request in flight at the shutdown may be reset instead)
    refused = [e[3] for e in window.events if e[0] > down and e[0] < up]
    assert refused and all("Connection refused" in f for f in refused), refused[:3]
    # No answer arrived while the port was closed: the gap spans the outage.
    assert summary["longest_gap_s"] >= up - down
    first_v2 = next(e for e in window.events if e[2] == "v2\n")
    assert summary["all_new_s"] == first_v2[1] - t0 and first_v2[1] >= up


def test_the_load_stops_at_its_bound_and_a_window_ending_on_a_failure_has_no_new_revision():
    srv = Server("v1\n").start()
    try:
        load = Load(srv.url, max_requests=5, pause=0.01).start(first=5)
        wait_for(lambda: not load.thread.is_alive(), "the load stopping at 5 requests")
        load.stop()
    finally:
        srv.stop()
    assert load.bounded and len(load.events) == 5 and load.answers == ["v1\n"] * 5
    assert load.window(0).summary("v2\n")["all_new_s"] is None
    late = Load(srv.url, max_requests=3, pause=0.01, timeout=1).start(first=1)
    wait_for(lambda: not late.thread.is_alive(), "the load stopping at 3 requests")
    late.stop()
    window = late.window(0)
    assert len(window.failures()) == 3 and window.all_new_since("v1\n") is None
    assert window.longest_gap() == window.events[-1][1] - 0
