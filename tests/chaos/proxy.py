"""A TCP forwarder that stands between a worker and moto or the Pub/Sub emulator.

moto and the Pub/Sub emulator keep their state in memory: killed, they would come back empty
(a real S3 or Pub/Sub keeps its data through an outage). So the chaos suite kills this
forwarder instead (SIGKILL): every connection in flight is cut mid-request, new ones are
refused until it is started again on the same port. With a delay it is a slow link instead:
the server's bytes reach the client that many seconds late (tests/test_streams_pubsub.py).
Standard library only, so it starts fast.

    python -m chaos.proxy LISTEN_PORT TARGET_PORT [DELAY_SECONDS]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

HOST = "127.0.0.1"


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float = 0.0
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await chunks.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    try:
        while data := await reader.read(65536):
            chunks.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    finally:
        chunks.put_nowait((loop.time() + delay, b""))
        with contextlib.suppress(ConnectionError, OSError):
            await sender
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(listen: int, target: int, delay: float = 0.0) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w, delay))

    server = await asyncio.start_server(handle, HOST, listen, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2]), float((sys.argv[3:] or [0])[0])))
