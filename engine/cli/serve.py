"""`python -m engine serve`: every service on one port, served by granian (HTTP/1.1 and
cleartext HTTP/2 on the same port, one worker process holding the Engine)."""
from __future__ import annotations

import dataclasses
import os
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
# Idle long polls each hold a request open: granian's default cap on concurrent requests per
# worker (the listen backlog, 1024) would make the 1,025th wait behind them.
CONCURRENT_REQUESTS_MAX = 65_536
LISTEN_BACKLOG = 2048


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    s3_root: str | None = None
    require_auth: bool = False
    keys_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    data_dir: str | None = None        # None: everything in memory
    durability: str | None = None      # the Engine's default for a data dir when None


def build_app(options: ServeOptions):
    """The app, made in granian's worker process (where the Engine lives)."""
    from ..engine import Engine
    from ..server.app import make_app

    s3_root = options.s3_root or os.environ.get("ENGINE_S3_ROOT") or "./s3"
    authenticator = None
    if options.require_auth:
        from ..server.auth import Authenticator, load_keys

        authenticator = Authenticator(load_keys(options.keys_file))
    stored = {"data_dir": options.data_dir, "durability": options.durability}
    engine = Engine(s3_root=s3_root, **stored)
    if options.data_dir is not None:
        from ..server.auth import restore_account

        try:   # every service and region now: the first request does not wait, and move tasks run on
            restore_account(engine)
        except Exception as error:   # (damaged data: one line naming it, not a worker's traceback)
            engine.close()
            raise SystemExit(f"engine serve: the data in {options.data_dir} cannot be restored: {error}") from None
    return make_app(engine, authenticator=authenticator,
                    engine_factory=lambda account_id: Engine(account_id=account_id, s3_root=s3_root, **stored))


def banner(options: ServeOptions, services) -> str:
    scheme = "https" if options.tls_cert else "http"
    from .. import __version__

    return (f"engine {__version__} serving {', '.join(services)} on {scheme}://{options.host}:{options.port}\n"
            f"  boto3: boto3.client('sqs', endpoint_url='{scheme}://{options.host}:{options.port}', "
            "region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\n"
            f"  AWS CLI: aws --endpoint-url {scheme}://{options.host}:{options.port} kinesis list-streams\n"
            f"  {_kept(options)}\n"
            "  Ctrl-C stops it (Firehose buffers are delivered, long polls answered)")


def _kept(options: ServeOptions) -> str:
    if options.data_dir is None:
        return "data: in memory only (gone when the server stops; --data-dir PATH keeps it)"
    from ..engine import DEFAULT_DURABILITY

    return (f"data: streams, queues, topics, delivery streams and tables kept in {options.data_dir} "
            f"(durability {options.durability or DEFAULT_DURABILITY})")


def _event_loop(loops):
    """uvloop where it is installed (the server extra brings it, but not on Windows): with
    asyncio's loop each request costs granian twice the CPU here."""
    import importlib.util

    return loops.uvloop if importlib.util.find_spec("uvloop") is not None else loops.asyncio


def run(options: ServeOptions) -> int:
    try:
        from granian.constants import HTTPModes, Interfaces, Loops
        from granian.log import LogLevels
        from granian.server import Server
    except ImportError:
        print("engine serve: granian is not installed; pip install 'engine[server]'", file=sys.stderr)
        return 2
    from ..server.app import served_services

    if options.require_auth:   # (refuse a bad keys file here, in one line, not in the worker)
        from ..server.auth import load_keys

        try:
            load_keys(options.keys_file)
        except ValueError as error:
            print(f"engine serve: {error}", file=sys.stderr)
            return 2
    if options.data_dir is None and options.durability not in (None, "memory"):
        print(f"engine serve: --durability {options.durability} needs --data-dir", file=sys.stderr)
        return 2
    tls = {}
    if options.tls_cert:   # (a wrong pair is refused here in one line, not by the worker)
        from ..server.tls import granian_options

        try:
            tls = granian_options(options.tls_cert, options.tls_key)
        except ValueError as error:
            print(f"engine serve: {error}", file=sys.stderr)
            return 2
    server = Server(
        "engine.server.app:make_app",
        address=options.host,
        port=options.port,
        interface=Interfaces.RSGI,   # (granian's own interface: a third less CPU per request than ASGI)
        http=HTTPModes.auto,
        loop=_event_loop(Loops),
        websockets=False,
        workers=1,
        backlog=LISTEN_BACKLOG,
        backpressure=CONCURRENT_REQUESTS_MAX,
        log_level=LogLevels.warning,
        **tls,
    )
    print(banner(options, served_services()), flush=True)
    server.serve(target_loader=lambda: build_app(options), wrap_loader=False)
    return 0
