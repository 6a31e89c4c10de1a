"""A MongoDB wire-protocol server for the test suite's wire tier (mongoeco, Python 3.13+).

Usage: mongoeco_server.py [--port N] [--engine memory|sqlite] [--sqlite-path PATH]

Prints the server's URI (mongodb://127.0.0.1:PORT/?directConnection=true) on one line of
stdout once it accepts connections, then serves until SIGTERM or SIGINT.

Aggregations: MongoDB 6+ lets a blocking stage ($group, $sort) spill to disk by default
(allowDiskUseByDefault), so the engine is given a spill threshold; without one, mongoeco
refuses any such pipeline over its materialisation budget even with allowDiskUse.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def build_engine(name: str, sqlite_path: str, spill_threshold: int):
    if name == "sqlite":
        from mongoeco.engines.sqlite import SQLiteEngine

        return SQLiteEngine(sqlite_path, aggregation_spill_threshold=spill_threshold)
    from mongoeco.engines.memory import MemoryEngine

    return MemoryEngine(aggregation_spill_threshold=spill_threshold)


async def serve(args: argparse.Namespace) -> None:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    engine = build_engine(args.engine, args.sqlite_path, args.spill_threshold)
    server = AsyncMongoEcoProxyServer(engine=engine, host=args.host, port=args.port)
    address = await server.start()
    print(address.uri, flush=True)
    print(f"mongoeco {args.engine} engine serving {address.uri}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    print("mongoeco server stopped", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--engine", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--sqlite-path", default=":memory:")
    parser.add_argument("--spill-threshold", type=int, default=10_000)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
