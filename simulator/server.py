"""The HTTP server: OpenAI's endpoints, the control plane, streaming, and ``SimulatorServer``.

One thread per connection (the standard library's ``ThreadingHTTPServer``), so a hung or slow
answer never holds up another request; a stop wakes every sleeping handler at once.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.config import SimulatorConfig
from simulator.faults import (
    MALFORMED_STREAM_TAIL,
    ErrorAnswer,
    FaultInjector,
    control_not_found,
    injected_429,
    injected_500,
    invalid_request,
    model_not_found,
    rpm_exceeded,
    rpm_headers,
    simulator_bug,
    truncated,
    unauthorised,
    unknown_url,
)
from simulator.hashing import stats_key
from simulator.protocol import chat_request_problem, completion_object, model_object, stream_events
from simulator.received import Received, ReceivedRequest
from simulator.stats import Completion, Traffic
from simulator.timing import ModelTiming, apply_tokens, parse_timing, stream_refusal

__all__ = ["SimulatorServer"]

# A paced stream (a model_timing with ttft) is written in at most this many steps after its first token.
STREAM_STEPS = 10


class _SharedState:
    """The config, the fault injector and the counters that every handler thread shares."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config_lock = threading.Lock()
        self.config = config
        self.stopping = threading.Event()
        self.traffic = Traffic()
        self.faults = FaultInjector(config.seed)
        self.received = Received()

    def configure(self, **fields: Any) -> SimulatorConfig:
        with self._config_lock:
            new = self.config.updated(**fields)
            if "seed" in fields:
                self.faults.reseed(new.seed)
            self.config = new
            return new

    def reset(self) -> None:
        with self._config_lock:
            self.traffic.reset()
            self.faults.reset(self.config.seed)
            self.received.reset()

    def snapshot(self) -> dict[str, Any]:
        return {**self.traffic.snapshot(), **self.faults.snapshot()}


class _ClientGone(Exception):
    """The client closed the connection before its answer was written."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ArenaSimulator/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    # Headers and body go out in two sends; with Nagle's algorithm and the client's delayed ACK
    # every keep-alive answer would stall ~40 ms, which no real API server does.
    disable_nagle_algorithm = True

    server: _HTTPServer
    # Whether the API request being handled still counts in the in_flight gauge: it departs
    # when its answer is counted (before the write), or at the end if nothing was answered.
    _in_flight = False

    @property
    def state(self) -> _SharedState:
        return self.server.state

    # --- plumbing

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.state.config.verbose:
            sys.stderr.write(f"[simulator] {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    @contextmanager
    def _writing(self, completion: Completion | None) -> Iterator[None]:
        """Write an answer; if the client has gone, its completion is withdrawn from the counters."""
        try:
            yield
        except OSError as exc:  # BrokenPipeError, ConnectionResetError, socket timeouts
            self.close_connection = True
            if completion is not None:
                self.state.traffic.withdraw(completion)
            raise _ClientGone from exc

    def _account(self, status: int, completion: Completion | None = None) -> None:
        depart, self._in_flight = self._in_flight, False
        self.state.traffic.answered(status, completion, depart=depart)

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        record: bool = True,
        completion: Completion | None = None,
    ) -> None:
        if record:
            self._account(status, completion)
        with self._writing(completion):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:24]}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None, **kw: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers, **kw)

    def _send_error(self, answer: ErrorAnswer, headers: dict[str, str] | None = None, **kw: Any) -> None:
        self._send_json(answer.status, answer.body, {**(headers or {}), **answer.headers}, **kw)

    def _sleep(self, seconds: float) -> bool:
        """Sleep without blocking other requests; False if the server is stopping."""
        if seconds <= 0:
            return not self.state.stopping.is_set()
        return not self.state.stopping.wait(seconds)

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path.startswith("/v1/") or path == "/v1":  # every path also works without /v1
            path = path[3:] or "/"
        try:
            if path.startswith("/_control/"):
                self._control(path, self.command)
                return
            self.state.traffic.arrived(path, time.time())
            self._in_flight = True
            try:
                self._api(path, self.command)
            except (_ClientGone, OSError):
                raise
            except Exception:  # a simulator bug: answer 500 rather than dropping the connection
                traceback.print_exc()
                self._send_error(simulator_bug())
            finally:
                if self._in_flight:
                    self._in_flight = False
                    self.state.traffic.departed()
        except (_ClientGone, OSError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    # --- control plane (never counted in the stats)

    def _control(self, path: str, method: str) -> None:
        body = self._read_body() if method in ("POST", "PUT") else b""
        if path == "/_control/health" and method == "GET":
            payload: Any = {"status": "ok"}
        elif path == "/_control/stats" and method == "GET":
            payload = self.state.snapshot()
        elif path == "/_control/received" and method == "GET":
            payload = self.state.received.as_json()
        elif path == "/_control/config" and method == "GET":
            payload = self.state.config.to_dict()
        elif path == "/_control/config" and method in ("POST", "PUT"):
            try:
                fields = json.loads(body or b"{}")
                if not isinstance(fields, dict):
                    raise ValueError("the body must be a JSON object of config fields")
                payload = self.state.configure(**fields).to_dict()
            except ValueError as exc:
                self._send_error(invalid_request(str(exc)), record=False)
                return
        elif path == "/_control/reset" and method == "POST":
            self.state.reset()
            payload = {"status": "reset"}
        else:
            self._send_error(control_not_found(method, path), record=False)
            return
        self._send_json(200, payload, record=False)

    # --- API

    def _api(self, path: str, method: str) -> None:
        config = self.state.config
        body = self._read_body() if method in ("POST", "PUT") else b""
        if config.require_key and not self._key_accepted(config):
            return
        if path == "/chat/completions" and method == "POST":
            self._chat(config, body)
        elif path == "/models" and method == "GET":
            self._send_json(200, {"object": "list", "data": [model_object(m) for m in config.models]})
        elif path.startswith("/models/") and method == "GET":
            model = path[len("/models/") :]
            if config.models and model not in config.models:
                self._send_error(model_not_found(model))
            else:
                self._send_json(200, model_object(model))
        else:
            self._send_error(unknown_url(method, self.path))

    def _key_accepted(self, config: SimulatorConfig) -> bool:
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key and (config.api_key is None or key == config.api_key):
            return True
        self._send_error(unauthorised(key_given=bool(key)))
        return False

    def _chat(self, config: SimulatorConfig, raw: bytes) -> None:
        """Answer a chat request, injecting faults in the order the package docstring gives."""
        try:
            req = json.loads(raw or b"")
        except ValueError:
            self._send_error(invalid_request("We could not parse the JSON body of your request."))
            return
        problem = chat_request_problem(req)
        if problem:
            self._send_error(invalid_request(*problem))
            return
        model: str = req["model"]
        self.state.received.record(req)
        self.state.traffic.requested_model(model)
        if config.strict_models and model not in config.models:
            self._send_error(model_not_found(model))
            return

        if req.get("stream") and model in config.stream_refused_models:
            self._send_error(invalid_request(*stream_refusal(model)))
            return
        spec = config.model_timing.get(model)
        timing = parse_timing(model, spec) if spec else ModelTiming()

        verdict = self.state.faults.check_rpm(config, time.time())
        headers = rpm_headers(config, verdict.remaining)
        if not verdict.admitted:
            self._send_error(rpm_exceeded(model, config.rpm_limit, verdict.wait), headers)
            return
        key = stats_key(model, req["messages"])
        fault = self.state.faults.draw(config, key)
        if fault == "rate_429":
            self._send_error(injected_429(model, config.retry_after), headers)
            return
        total = self.state.faults.uniform(timing.latency) if timing.latency else self.state.faults.latency(config)
        # A streamed answer with a first-token time sends its first token then, the rest later.
        ttft = min(total, self.state.faults.uniform(timing.ttft)) if timing.ttft and req.get("stream") else None
        pause = config.hang_seconds if fault == "hang" else total if ttft is None or fault else ttft
        if not self._sleep(pause):
            self.close_connection = True
            return
        if fault == "error_500":
            self._send_error(injected_500())
            return

        completion, self_identified = completion_object(config, req)
        if timing.tokens:
            apply_tokens(completion, timing.tokens, req.get("max_completion_tokens", req.get("max_tokens")))
        usage = completion["usage"]
        # A malformed answer, or one that comes only after a hang (its client has normally
        # given up), is not a completion anybody received: it is not counted.
        counted = (
            None if fault else Completion(key, usage["prompt_tokens"], usage["completion_tokens"], self_identified)
        )
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            events = stream_events(completion, include_usage=include_usage)
            rest = None if ttft is None or fault else total - ttft
            self._stream(events, headers, malformed=fault == "malformed", completion=counted, rest=rest)
        else:
            body = json.dumps(completion, ensure_ascii=False).encode("utf-8")
            self._send(200, truncated(body) if fault == "malformed" else body, headers, completion=counted)

    def _stream(
        self,
        events: list[dict[str, Any]],
        headers: dict[str, str],
        *,
        malformed: bool,
        completion: Completion | None,
        rest: float | None = None,
    ) -> None:
        """Server-sent events, then ``[DONE]``, in chunked transfer encoding on a keep-alive
        connection as real APIs send them (a malformed stream ends by closing the connection).
        With ``rest``, the events after the first token are spread evenly over that many seconds."""
        self._account(200, completion)
        self.close_connection = malformed

        def write(data: bytes) -> None:
            self.wfile.write(data if malformed else b"%x\r\n%s\r\n" % (len(data), data))

        with self._writing(completion):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close" if malformed else "keep-alive")
            if not malformed:
                self.send_header("Transfer-Encoding", "chunked")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            sent = truncated(events) if malformed else events
            lines = [b"data: " + json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n\n" for e in sent]
            lines.append(MALFORMED_STREAM_TAIL if malformed else b"data: [DONE]\n\n")
            if not rest:  # nothing to pace: one write, as a fast server's events coalesce anyway
                write(b"".join(lines))
            else:  # the first token now (after its ttft), the rest in even steps until the last byte
                first = next((i for i, e in enumerate(sent) if any(c["delta"].get("content") for c in e["choices"])), 0)
                write(b"".join(lines[: first + 1]))
                rest_lines = lines[first + 1 :]
                # At most STREAM_STEPS writes: a wake-up per token of every stream would make the
                # simulator, not the model, the slow part on a busy machine.
                steps = min(STREAM_STEPS, len(rest_lines))
                started = time.monotonic()
                for step in range(steps):
                    if not self._sleep(started + rest * (step + 1) / steps - time.monotonic()):
                        self.close_connection = True
                        return
                    write(b"".join(rest_lines[len(rest_lines) * step // steps : len(rest_lines) * (step + 1) // steps]))
            if not malformed:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], state: _SharedState) -> None:
        self.state = state
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def close_connections(self) -> None:
        """Shut every open connection, so that keep-alive clients see the stop at once."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, _ClientGone)) or self.state.stopping.is_set():
            return
        super().handle_error(request, client_address)


class SimulatorServer:
    """The simulator on a background thread; a context manager.

    ``SimulatorServer(config=None, host="127.0.0.1", port=0, **fields)``: ``fields`` override
    ``config`` fields. Port 0 binds a free port; ``base_url`` is ``http://host:port/v1``.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0, **fields: Any
    ) -> None:
        config = config if config is not None else SimulatorConfig()
        if fields:
            config = config.updated(**fields)
        self._state = _SharedState(config)
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        self._state.stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self._state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._state.stopping.set()  # wakes sleeping (latency / hang) handlers
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Start (if needed) and block until KeyboardInterrupt, then stop."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Root URL without the /v1 prefix (control endpoints live under it)."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI base URL: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.url}/v1"

    # --- control

    @property
    def config(self) -> SimulatorConfig:
        """The current config (a snapshot; change it with configure())."""
        return self._state.config

    def configure(self, **fields: Any) -> SimulatorConfig:
        """Replace some config fields at runtime (validated); returns the new config."""
        return self._state.configure(**fields)

    def stats(self) -> dict[str, Any]:
        """Counters (the same JSON as GET /_control/stats).

        ``requests_total`` (every non-control request), ``requests_by_model`` (chat requests by
        requested model, counted after body validation), ``requests_by_status`` (str status ->
        count), ``requests_by_path``, ``request_times`` (time.time() of every non-control
        request at arrival), ``completions_by_key`` ("model|prompt_hash" -> completions returned
        successfully, faults excluded; see ``stats_key``), ``completions_total``, ``faults``
        (rate_429 / error_500 / hang / malformed / rpm_limit -> count), ``faults_by_key``,
        ``self_identified``, ``prompt_tokens``, ``completion_tokens``, ``in_flight``,
        ``max_in_flight`` (peak concurrent non-control requests).
        """
        return self._state.snapshot()

    def reset(self) -> None:
        """Clear stats, per-key fault counts and the rpm window; reseed the fault RNG."""
        self._state.reset()

    def received(self) -> list[ReceivedRequest]:
        """Every chat request received since the last reset (simulator/received.py)."""
        return self._state.received.snapshot()

    def completions_for(self, model: str, messages: list[dict[str, Any]]) -> int:
        return self.stats()["completions_by_key"].get(stats_key(model, messages), 0)
