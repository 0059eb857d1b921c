"""Starting the explorer: check the runs, bind the address, load and warm the models, then serve
with uvicorn (``serve``), in this thread or in a background one (``ServerThread``, for tests,
benchmarks and screenshots)."""
from __future__ import annotations

import ipaddress
import socket
import sys
import threading

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


def make_server(explorer, sock: socket.socket):
    import uvicorn

    from textdeconv.serve.app import create_app

    app = create_app(explorer, loopback=is_loopback(sock.getsockname()[0]))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(paths, host: str = "127.0.0.1", port: int = 8000, say=print) -> None:
    """Serve the explorer for the run directories ``paths`` until Ctrl-C; ``say`` gets the URL
    once the models are loaded and warm."""
    from textdeconv.serve.explorer import Explorer

    check_runs(paths)
    sock = bind(host, port)
    try:
        explorer = Explorer.open(paths)
        if not is_loopback(host):
            print(f"warning: listening on {host}, reachable from other machines; the explorer has no "
                  "authentication", file=sys.stderr)
        server = make_server(explorer, sock)
        say(url_of(sock))
        sys.stdout.flush()
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The explorer served from a background thread on 127.0.0.1 (a free port by default).

        with ServerThread(Explorer.open([run_dir])) as url:
            ...   # requests to url
    """

    def __init__(self, explorer, host: str = "127.0.0.1", port: int = 0):
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(explorer, self.sock)
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
