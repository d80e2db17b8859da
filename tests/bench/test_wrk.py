"""The generated wrk script, run by the real wrk against a loopback server that records requests."""

import http.server
import threading

import pytest

from bench import wrk
from tests.servers import require_binary


@pytest.fixture
def recorder():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, body=b""):
            seen.append((self.command, self.path, self.headers.get("Cookie"), self.headers.get("Host"), body))
            self.send_response(302 if self.command == "POST" else (404 if self.path == "/missing" else 200))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self):  # noqa: N802
            self._answer()

        def do_POST(self):  # noqa: N802
            self._answer(self.rfile.read(int(self.headers["Content-Length"])))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_wrk_replays_each_request_with_its_own_method_headers_and_body(recorder):
    require_binary("wrk")
    url, seen = recorder
    cycle = [wrk.get("/a"), wrk.get("/b", {"Cookie": "sessionid=x"}), wrk.post("/c/", "body=hi&csrfmiddlewaretoken=t",
                                                                             {"Cookie": "sessionid=y"})]
    result = wrk.run(url, cycle, 1, 1)
    expected = [("GET", "/a", None, "127.0.0.1", b""), ("GET", "/b", "sessionid=x", "127.0.0.1", b""),
                ("POST", "/c/", "sessionid=y", "127.0.0.1", b"body=hi&csrfmiddlewaretoken=t")]
    # wrk counts completed responses; the one in flight when time is up reached the server uncounted.
    assert result["requests"] <= len(seen) <= result["requests"] + 1 and len(seen) > 3 and result["errors"] == 0
    assert set(seen) == set(expected)
    steps = [expected.index(seen[n + 1]) - expected.index(seen[n]) for n in range(len(seen) - 1)]
    assert all(step % 3 == 1 for step in steps), "the requests are replayed in their order, as a cycle"
    assert result["p50_ms"] <= result["p99_ms"] and result["rps"] > 0


def test_error_statuses_are_counted_and_are_not_throughput(recorder):
    require_binary("wrk")
    url, _ = recorder
    result = wrk.run(url, [wrk.get("/missing")], 1, 1)  # every answer a 404
    assert result["errors"] == result["requests"] > 0
    assert result["rps"] == 0  # only successful responses count
    mixed = wrk.run(url, [wrk.get("/a"), wrk.get("/missing")], 1, 1)
    assert 0 < mixed["rps"] < mixed["requests"] / 1 and mixed["errors"] > 0
    assert 0 < mixed["loadgen_cpu_pct"] <= 100 * 1.5  # wrk's own CPU, one thread (plus its start)


def test_requests_must_be_ascii():
    with pytest.raises(ValueError, match="ASCII"):
        wrk.lua_script([wrk.get("/café")])
    with pytest.raises(ValueError):
        wrk.lua_script([])


def test_a_rate_paces_the_requests_and_without_one_wrk_sends_as_fast_as_it_can(recorder):
    require_binary("wrk")
    url, seen = recorder
    paced = wrk.run(url, [wrk.get("/a")], 2, 4, rate=20)
    assert 34 <= paced["requests"] <= 46 and paced["errors"] == 0  # 20 a second for 2 s, not more
    flat_out = wrk.run(url, [wrk.get("/a")], 2, 4)
    assert flat_out["requests"] > 2 * paced["requests"]  # the same server answers far more when asked
    with pytest.raises(ValueError, match="positive"):
        wrk.lua_script([wrk.get("/a")], rate=0)
