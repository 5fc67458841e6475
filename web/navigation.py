"""Where the office desk sends a person next: back to the page they were reading after
sign-in or a change of language, never to another site and never to a URL that only takes a
POST (a GET there would be a 405); a signed-out browser to the sign-in page, with the page
to come back to.

A `next` is kept only if it is a path of this desk: it starts with `/office`, has no scheme,
no host, no `//`, no backslash and no control character (an open redirect takes any of
them), and is not one of the sign-in's own steps.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request
from starlette.routing import Match

NEXT_MAX = 2000
_SIGN_IN_STEPS = ("/office/signin", "/office/signout", "/office/second-factor", "/office/enrol")


def safe_next(value: str | None) -> str | None:
    """The path-and-query to come back to, if it is one of the desk's own; else None."""
    if not value or len(value) > NEXT_MAX:
        return None
    if any(ord(char) < 0x20 or char == "\\" or ord(char) == 0x7F for char in value):
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    path = parts.path
    if not (path == "/office" or path.startswith("/office/")):
        return None
    if "/../" in path + "/" or "/./" in path + "/":
        return None
    if any(path == step or path.startswith(step + "/") for step in _SIGN_IN_STEPS):
        return None
    # `lang` is the page's language of the moment: the session's own language decides.
    query = [(name, item) for name, item in parse_qsl(parts.query) if name != "lang"]
    return path + (f"?{urlencode(query)}" if query else "")


def _has_get(request: Request, path: str) -> bool:
    """Whether a GET of `path` reaches a route of the app (FULL: its path and its method)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "app": request.app}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def get_view(request: Request, target: str | None, fallback: str) -> str:
    """The page to show for `target`: itself if it is a GET page of the desk; for a URL
    that only takes a POST (an action's), the nearest page above it that has a GET view
    (`/office/conventions/X/postpone` → `/office/conventions/X`); else `fallback`."""
    kept = safe_next(target)
    if kept is None:
        return fallback
    path = kept.partition("?")[0]
    if _has_get(request, path):
        return kept
    while "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0]
        if _has_get(request, path):
            return path
    return fallback


def signin_url(request: Request) -> str:
    """The sign-in page, with the page asked for as `next` (when it is one to come back to)."""
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    kept = safe_next(asked) if request.method == "GET" else None
    return "/office/signin" + (f"?next={quote(kept, safe='/')}" if kept else "")


def wants_a_page(request: Request) -> bool:
    """A browser asking for a page (GET, `Accept: text/html`): it is redirected to sign
    in; a program (any other Accept) keeps its 401."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
