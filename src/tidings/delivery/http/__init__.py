"""HTTP/1.1 for deliveries: a small pool over llhttp (httptools), TLS, proxies, limits."""

from tidings.delivery.http.client import HttpClient
from tidings.delivery.http.connection import MAX_BODY, MAX_HEAD, MAX_HEADERS, Answer
from tidings.delivery.http.errors import HttpError
from tidings.delivery.http.urls import Target, parse_target

__all__ = [
    "MAX_BODY",
    "MAX_HEAD",
    "MAX_HEADERS",
    "Answer",
    "HttpClient",
    "HttpError",
    "Target",
    "parse_target",
]
