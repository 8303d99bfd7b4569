"""A fast loopback HTTP receiver for benchmarks: answers every POST with 200 and counts them.

Run as a separate process so its CPU is not the sender's: python bench/receiver.py PORT [DELAY_MS]
(DELAY_MS: each answer waits that long, as a platform's would; default 0)
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

COUNT = 0
DELAY = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0


async def handle(request: web.Request) -> web.Response:
    global COUNT
    await request.read()
    if DELAY:
        await asyncio.sleep(DELAY)
    COUNT += 1
    return web.Response(text='{"ok":true}', content_type="application/json")


async def count(_request: web.Request) -> web.Response:
    return web.json_response({"count": COUNT})


def main() -> None:
    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
