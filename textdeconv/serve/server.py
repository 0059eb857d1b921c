"""Starting the explorer: check the runs, bind the address, load and warm the models, then serve
with uvicorn (``serve``), in this thread or in a background one (``ServerThread``, for tests,
benchmarks and screenshots)."""
from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import sys
import threading
from pathlib import Path

from textdeconv.errors import InputError

MAX_RUNS = 2  # the page shows two runs side by side


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0 = any free port).

    Raises:
        InputError: the address cannot be bound (in use, or not this machine's), with what to do.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise InputError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror}); pick another --port") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def check_runs(paths) -> None:
    """Every run directory exists and is finished: fails before TensorFlow loads."""
    from textdeconv.training.rundir import check_run_dir

    if len(paths) > MAX_RUNS:
        raise InputError(f"--run given {len(paths)} times; the explorer shows at most {MAX_RUNS} runs side by side")
    for p in paths:
        check_run_dir(p)
        state = Path(p) / "state.json"
        try:
            finished = json.loads(state.read_text()).get("finished", True) if state.is_file() else True
        except (OSError, ValueError, AttributeError):
            finished = True  # not ours to judge: training wrote it, check_run_dir found every file
        if finished is False:
            raise InputError(f"{p} is still training (its state.json says finished: false); serve it once "
                             "textdeconv train has finished, or resume it with textdeconv train --resume")


def header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol, closing a connection whose request headers have not all arrived
    ``seconds`` after it opened or after the first byte of a request (uvicorn has no such timeout:
    a client sending half a request would hold its connection open for ever)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self.arm()

        def data_received(self, data):
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self.arm()  # headers still incomplete (or a new request begins)
            else:
                self.disarm()

        def connection_lost(self, exc):
            self.disarm()
            super().connection_lost(exc)

        def arm(self):
            if self.timer is None and not self.transport.is_closing():
                self.timer = self.loop.call_later(seconds, self.expire)

        def disarm(self):
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

        def expire(self):
            self.timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def make_server(explorer, sock: socket.socket, token: str | None = None, hosts=()):
    import uvicorn

    from textdeconv.serve.app import create_app

    app = create_app(explorer, token=token, hosts=hosts)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            http=header_timeout_protocol(explorer.limits.header_timeout))
    return uvicorn.Server(config)


def access(host: str, allow_hosts=()) -> tuple[str | None, list[str]]:
    """``(token, extra host names)`` for a bind on ``host``: no token on a loopback address; else a
    fresh token, and the names a Host header may carry besides IP addresses and loopback names
    (``host`` itself when it is a name, this machine's name, and ``allow_hosts``)."""
    if is_loopback(host):
        return None, []
    names = [h.strip().lower().rstrip(".") for h in allow_hosts if h.strip()]
    names += [n.lower() for n in (host, socket.gethostname()) if n and n not in ("0.0.0.0", "::", "")]
    return secrets.token_urlsafe(24), names


def serve(paths, host: str = "127.0.0.1", port: int = 8000, say=print, limits=None, allow_hosts=()) -> None:
    """Serve the explorer for the run directories ``paths`` until Ctrl-C; ``say`` gets the URL
    once the models are loaded and warm. Off loopback, the token URL goes once to stderr."""
    from textdeconv.serve.explorer import Explorer

    check_runs(paths)
    sock = bind(host, port)
    try:
        explorer = Explorer.open(paths, limits)
        token, names = access(host, allow_hosts)
        server = make_server(explorer, sock, token, names)
        url = url_of(sock)
        say(url)
        if token is not None:
            print(f"listening on {host}, reachable from other machines: every request needs this token (printed "
                  f"only here). Open {url}?token={token} (replace the address by this machine's name or address "
                  f"if needed; names accepted: {', '.join(names) or 'addresses only'}; --allow-host adds one), or "
                  f"send the header X-Textdeconv-Token: {token}", file=sys.stderr)
        sys.stdout.flush()
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The explorer served from a background thread on 127.0.0.1 (a free port by default; off
    loopback ``.token`` is the token requests need).

        with ServerThread(Explorer.open([run_dir])) as url:
            ...   # requests to url
    """

    def __init__(self, explorer, host: str = "127.0.0.1", port: int = 0, allow_hosts=()):
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.token, names = access(host, allow_hosts)
        self.server = make_server(explorer, self.sock, self.token, names)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> str:
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
