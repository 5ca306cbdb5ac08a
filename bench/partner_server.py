"""A minimal local partner endpoint for benchmarks: answers every POST with 200 as fast as it can.

`python -m bench.partner_server --port 9765`: a helper process that bench/pipeline.py and
bench/pipeline_steps.py start, not a benchmark itself. (The demo's `fake_partner` command
also verifies signatures and logs; a benchmark only needs a real HTTP peer.)

It stands in for a partner's servers, which in production run on other
machines; here it shares the benchmark's two cores, so it is kept as cheap as
an HTTP/1.1 peer can be: one asyncio protocol, keep-alive, requests read by
their `Content-Length`, a fixed answer. (`http.server` costs ~0.2 ms of CPU per
request — ~40 ms per 1,000 purchases in `bench/pipeline.py` — this ~0.03 ms.)
"""

from __future__ import annotations

import argparse
import asyncio
import socket

ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{"status":"received"}'
)


class PartnerProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.transport.write(ANSWER)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(PartnerProtocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9765)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
