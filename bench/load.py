"""A lean closed-loop load generator: a few keep-alive HTTP/1.1 connections on one asyncio
loop, each sending its next request as soon as the previous answer arrives. Raw sockets
rather than an HTTP library, so the client costs little CPU next to the server it measures.
"""

import asyncio
import statistics
import time
from collections.abc import Callable


def summarize(latencies: list[float], seconds: float, events_per_request: int) -> dict:
    """Throughput and latency percentiles of one measured phase."""
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "requests": len(ordered),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(ordered) / seconds, 1),
        "events_per_s": round(len(ordered) * events_per_request / seconds, 1),
        "p50_ms": round(percentile(0.50), 2),
        "p99_ms": round(percentile(0.99), 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _connection(host, port, path, make_body, headers, deadline, measure_from, out, total):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (now := time.perf_counter()) < deadline:
            body, extra = make_body()
            lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", *headers, *extra]
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            status, answer = await _read_response(reader)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {answer[:300]!r}")
            total[0] += 1
            if now >= measure_from:
                out.append(time.perf_counter() - now)
    finally:
        writer.close()


def post_load(
    url_host: str,
    url_port: int,
    path: str,
    make_body: Callable[[], tuple[bytes, list[str]]],
    *,
    connections: int,
    warmup: float,
    seconds: float,
    events_per_request: int,
    headers: tuple[str, ...] = (),
) -> dict:
    """POST `make_body()` (body, extra header lines) over `connections` connections for
    warmup + seconds; summarize the measured part."""
    latencies: list[float] = []
    total = [0]  # requests answered, warm-up included (for CPU per event)
    start = time.perf_counter()
    measure_from, deadline = start + warmup, start + warmup + seconds

    async def main():
        await asyncio.gather(
            *(
                _connection(
                    url_host,
                    url_port,
                    path,
                    make_body,
                    headers,
                    deadline,
                    measure_from,
                    latencies,
                    total,
                )  # fmt: skip
                for _ in range(connections)
            )
        )

    asyncio.run(main())
    result = summarize(latencies, time.perf_counter() - measure_from, events_per_request)
    result["all_events"] = total[0] * events_per_request
    return result
