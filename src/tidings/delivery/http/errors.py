"""Why an HTTP exchange gave no usable answer.

Messages name the host and port, never a URL's path or query (platforms keep their tokens
there) and never a proxy's credentials.
"""

from __future__ import annotations


class HttpError(Exception):
    """No usable answer. `sent`: request bytes were written, so the receiver may have acted
    on it (the outcome is unknown). `permanent`: sending again cannot help (an untrusted
    certificate, a request the transport refuses); the delivery should fail at once."""

    def __init__(self, message: str, *, sent: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.permanent = permanent


class NotSent(HttpError):
    """The connection was found closed before any byte of the request was written: the
    request may go on a new connection without any risk of a duplicate."""
