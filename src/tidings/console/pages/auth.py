"""Signing in with an API token, signing out, and the language switch."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tidings.console import i18n
from tidings.console.sessions import COOKIE, LOGIN_COOKIE
from tidings.console.views import Denied, Views, read_form, safe_next, same_origin

router = APIRouter()


def _views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Strict, and Secure when the page came over TLS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _form(
    request: Request, error: str = "", status: int = 200, target: str | None = None
) -> Response:
    views = _views(request)
    nonce = secrets.token_urlsafe(24)
    response = views.page(
        "login.html",
        request,
        None,
        status_code=status,
        error=error,
        login_csrf=views.sessions.login_csrf(nonce),
        next=safe_next(target or request.query_params.get("next")),
        signed_out=request.query_params.get("out") == "1",
    )
    _cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    views = _views(request)
    fields = await read_form(request)
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not views.sessions.login_csrf_ok(nonce, fields.get("csrf")) or not same_origin(request):
        return _form(request, "The form expired: sign in again.", 403, fields.get("next"))
    signed = views.sessions.sign_in(fields.get("token", "").strip())
    if signed is None:
        unknown = "Unknown token: it is not in system.api_tokens."
        return _form(request, unknown, 401, fields.get("next"))
    cookie, _session = signed
    response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
    _cookie(response, request, COOKIE, cookie, int(views.sessions.ttl))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    views = _views(request)
    session = views.session(request)
    fields = await read_form(request)
    if session is not None:
        from tidings.console.sessions import csrf_ok

        if not csrf_ok(session, fields.get("csrf")):
            raise Denied(None)
        views.sessions.sign_out(request.cookies.get(COOKIE))
    response = RedirectResponse("/login?out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def language(request: Request, code: str) -> Response:
    """Remember the person's choice of language (a preference, nothing else changes)."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if code in i18n.LANGUAGES:
        _cookie(response, request, i18n.LANG_COOKIE, code, 365 * 24 * 3600)
    return response
