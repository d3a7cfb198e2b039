"""`python -m paddle_vae.serve --init_from_ckpt model/best`: the latent explorer at http://127.0.0.1:8000/.

One bundle, loaded at start and fixed for the process's life (no request names a file); the JSON API is
described at /docs. Listening beyond the loopback interface (`--host 0.0.0.0`) is said on one line, since
anyone who reaches the port can then use the model. Ctrl-C or SIGTERM finishes the requests in flight, prints
one line and exits 0.
"""
from ..runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import dataclasses
import ipaddress
import signal
import socket
import sys
from typing import List, Optional

from .. import runtime
from ..errors import UsageError, cli_entry
from ..flag_groups import add_bundle_flags, add_process_flags, bundle_budget, default_device, new_parser
from .limits import Limits


class _Stopped(Exception):
    """SIGTERM, raised where uvicorn hands the signal back after its graceful shutdown."""


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("Serve a trained bundle: a JSON API (sample, reconstruct, interpolate, encode, decode, score; "
                   "see /docs) and the latent explorer page at /.")
    p.prog = "python -m paddle_vae.serve"
    add_bundle_flags(p, default=None, help="the bundle folder to serve, e.g. model/best (required)")
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 opens it to the network")
    g.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    g.add_argument("--map_sentences", type=int, default=500,
                   help="sentences of the bundle's test split on the page's map (0: none)")
    g.add_argument("--cors_origin", action="append", default=[], metavar="ORIGIN",
                   help="a web origin allowed to call the API from its pages (repeatable; by default none is)")
    g.add_argument("--access_log", action="store_true", help="print one line per request")
    limits = p.add_argument_group("limits (a request over one is answered 4xx, or 503 for the queue and time)")
    for f in dataclasses.fields(Limits):
        limits.add_argument(f"--{f.name}", type=type(f.default), default=f.default, help=f.metadata["help"])
    add_process_flags(p)
    return p


def validate(args: argparse.Namespace) -> Limits:
    """Every flag checked before the port is bound or the bundle read; the limits in force."""
    if not args.init_from_ckpt:
        raise UsageError("--init_from_ckpt is required: the bundle folder to serve, e.g. model/best")
    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    bad = limits.problems() + [f"--{name}" for name in ("num_threads", "max_bundle_mb")
                               if getattr(args, name) is not None and getattr(args, name) <= 0]
    if bad:
        raise UsageError(f"{', '.join(bad)} must be positive")
    if args.map_sentences < 0:
        raise UsageError(f"--map_sentences must be >= 0, got {args.map_sentences}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0-65535, got {args.port}")
    return limits


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads, so a taken port fails at once in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (a bare SOCK_STREAM's is
    # 0, which accepted connections inherit), and without it each keep-alive answer waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock


def _raise_stopped(signum, frame):
    raise _Stopped()


def serve(args: argparse.Namespace, limits: Limits, sock: socket.socket) -> bool:
    """Load the bundle and serve it on `sock` until a signal; False if the server did not start."""
    import uvicorn  # lazy, as Paddle below: `--help` and a flag error answer at once

    from ..generator import VAEGenerator  # imports Paddle, which installs a SIGTERM handler that dumps a trace
    from .app import create_app

    signal.signal(signal.SIGTERM, _raise_stopped)  # ours instead: a SIGTERM while loading stops quietly too
    runtime.set_device(args.device or default_device())
    threads = runtime.set_threads(args.num_threads)
    generator = VAEGenerator.from_pretrained(args.init_from_ckpt, bundle_budget(args))
    app = create_app(generator, limits, bundle_dir=args.init_from_ckpt, num_threads=threads,
                     cors_origins=args.cors_origin, map_sentences=args.map_sentences)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(args.host):  # said before the address line, which tells a waiting caller it is up
        print(f"warning: listening on {args.host}: the model is reachable from the network, by anyone who can "
              "reach this port (there is no authentication)", flush=True)
    print(f"serving {args.init_from_ckpt} ({app.state.kind}) at http://{shown}:{port}/ (API: /docs; Ctrl-C stops)",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=args.access_log,
                                           timeout_graceful_shutdown=int(limits.request_timeout) + 1))
    # uvicorn finishes the requests in flight on SIGINT/SIGTERM, then raises the signal again: Ctrl-C as
    # KeyboardInterrupt, SIGTERM through _raise_stopped; main catches both.
    server.run(sockets=[sock])
    return server.started


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    limits = validate(args)
    sock = listen(args.host, args.port)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        if not serve(args, limits, sock):
            return 1  # uvicorn has said why
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
