"""Undoing an answer's Content-Encoding (gzip, deflate) within a size limit.

The limit applies to what decompression produces, not only to what came over the wire: a
few hundred KiB of gzip can hold gigabytes. zlib's `max_length` stops inflating at the
limit, so memory stays bounded whatever the ratio. Larger bodies are decoded in a thread:
the event loop that other deliveries share never inflates more than a small body.
"""

from __future__ import annotations

import asyncio
import zlib

from tidings.delivery.http.errors import HttpError

CODINGS = ("gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"
INLINE_BYTES = 16 * 1024  # compressed bodies up to this size are decoded on the loop


def coding_of(value: str) -> str | None:
    """The coding to undo (None: the body is as sent); an error for any other, before its
    body is read."""
    coding = value.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in CODINGS:
        return coding
    raise HttpError(
        f"answer has Content-Encoding {value.strip()[:40]!r}, which tidings does not decode "
        f"(it asks for {ACCEPT_ENCODING})"
    )


def decode(body: bytes, coding: str, limit: int) -> bytes:
    """The decoded body; an HttpError when it is not valid or would exceed `limit` bytes."""
    if not body:
        return body
    if coding == "deflate":
        # "deflate" is zlib-wrapped (RFC 9110), but some servers send it raw.
        header = int.from_bytes(body[:2], "big")
        wrapped = len(body) > 1 and body[0] & 0x0F == 8 and header % 31 == 0
        wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
    else:
        wbits = 16 + zlib.MAX_WBITS
    parts: list[bytes] = []
    size = 0
    data = body
    while data:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(data, limit + 1 - size)
        except zlib.error:
            raise HttpError(f"answer body is not valid {coding}") from None
        size += len(part)
        if size > limit:
            raise HttpError(
                f"answer larger than {_size(limit)} once decoded ({coding}); it is not read further"
            )
        parts.append(part)
        if not inflater.eof:
            raise HttpError(f"answer body is cut-off {coding}")
        # Several gzip members follow each other (RFC 1952); anything else after the end is not.
        data = inflater.unused_data
        if data and wbits != 16 + zlib.MAX_WBITS:
            raise HttpError(f"answer body is not valid {coding} (data after its end)")
    return b"".join(parts)


async def decode_off_loop(body: bytes, coding: str, limit: int) -> bytes:
    """decode(), in a thread unless the body is small."""
    if len(body) <= INLINE_BYTES:
        return decode(body, coding, limit)
    return await asyncio.get_running_loop().run_in_executor(None, decode, body, coding, limit)


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
