"""A steady HTTP load on one URL (a simulated VM's forwarded port on 127.0.0.1), for tests and benches.

    with Load("http://127.0.0.1:PORT/") as load:   # waits for the first answers
        ...                                        # an update of the VM
    load.answers, load.failures                    # every body and every failure, in order
    load.window(t0).summary("web v2\\n")            # failures, longest gap, when only v2 answered

Sequential GETs, each on a new connection (so each one meets the VM's port forwarding of its moment), a short
pause between them; bounded in count and in time (``max_requests``, ``max_seconds``). ``events`` keeps each
request's (sent, done, body, error) on the monotonic clock; body is None for a failure.
"""

import threading
import time
import urllib.request


class Load:
    def __init__(self, url, max_requests=20000, max_seconds=900, pause=0.02, timeout=10):
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.pause, self.timeout = pause, timeout
        self.answers, self.failures, self.events = [], [], []
        self.bounded = False  # the load stopped at its bound in count or time, not because it was asked to
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="load", daemon=True)

    def run(self):
        end = time.monotonic() + self.max_seconds
        while not self.stopping.is_set():
            if len(self.events) >= self.max_requests or time.monotonic() > end:
                self.bounded = True
                break
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                    body = resp.read().decode()
                self.events.append((sent, time.monotonic(), body, None))
                self.answers.append(body)
            except OSError as exc:
                self.events.append((sent, time.monotonic(), None, repr(exc)))
                self.failures.append(repr(exc))
            time.sleep(self.pause)

    def start(self, first=20, tries=1200, pause=0.25):
        """Start, and wait (bounded by a count of polls) for ``first`` answers or a failure."""
        self.thread.start()
        for _ in range(tries):
            if len(self.answers) >= first or self.failures or not self.thread.is_alive():
                return self
            time.sleep(pause)
        raise AssertionError("never happened: the load's first answers from %s" % self.url)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the load did not stop"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def window(self, since, until=None):
        """The events from ``since`` on (and up to ``until``), with the last answer before ``since``."""
        return Window([e for e in self.events if e[0] >= since and (until is None or e[0] <= until)],
                      since, next((e for e in reversed(self.events) if e[0] < since and e[2] is not None), None))


class Window:
    """The requests of a load from a moment on (an update's start), read for an update's figures."""

    def __init__(self, events, since, before=None):
        self.events, self.since, self.before = events, since, before

    def failures(self):
        return [e[3] for e in self.events if e[2] is None]

    def longest_gap(self):
        """The longest time without an answer: between two answers' arrivals, counted from the last answer
        before the window (or its start), up to the last request's end when no answer ends the window."""
        last = self.before[1] if self.before else self.since
        gap = 0.0
        for _sent, done, body, _error in self.events:
            if body is not None:
                gap, last = max(gap, done - last), done
        if self.events and self.events[-1][2] is None:
            gap = max(gap, self.events[-1][1] - last)
        return gap

    def all_new_since(self, want):
        """Seconds from the window's start to the first answer from which every request was answered
        ``want`` (the new revision serving all traffic); None when the last request was not."""
        first = None
        for _sent, done, body, _error in reversed(self.events):
            if body != want:
                break
            first = done
        return None if first is None else first - self.since

    def summary(self, want):
        return {"requests": len(self.events), "failed": len(self.failures()), "longest_gap_s": self.longest_gap(),
                "all_new_s": self.all_new_since(want), "answers": sorted({e[2] for e in self.events if e[2]})}
