"""Cached pages and gate answers, valid for one data generation (core/generation.py).

A cached entry is found only under the generation it was computed in, so any write to governance data
(a triage action, an evaluation, a waiver, a role change) makes every entry computed before it
unreachable at once, in every process; entries also expire after a bounded time (settings
MODELGATE_PAGE_CACHE_SECONDS, MODELGATE_GATE_CACHE_SECONDS) for what changes with the clock alone ("3
minutes ago", a due date passing).

Who shares a page. Users who would be shown the same page share one entry: those whose roles are all
global, with the same permissions and the same roles (the *audience*). A user with any permission held
only through an organization membership sees rows narrowed to their organizations, so their entries are
their own; so are pages a view marks as depending on the user (`vary_on_user`, e.g. "assigned to me").
What differs between the members of an audience is filled in per request:

- the CSRF token (`{% csrf_token %}`, `{{ csrf_token }}`) is rendered as a placeholder and replaced with
  a token masked afresh for the requester's own cookie (so no token ever reaches another session);
- the user's name (`{{ display_username }}`) likewise;
- parts that only other users see (`{% unlessuser id %}…{% endunlessuser %}`: e.g. no "approve" button
  on one's own waiver request) are marked and cut out for that user.

The placeholders are derived from SECRET_KEY, so content from the Hub cannot spell them.

What is never cached: anything but a 200 to a GET without pending flash messages; a response that sets a
cookie; a view that did not opt in (`cached_page`). Permissions are checked before the lookup (the view's
dispatch runs first), so a revoked role is refused at once, cache or not.

A miss computes once: the first request takes a short lock and the others of the same entry wait for
its result (up to `_WAIT` seconds) instead of all rendering it. Each response says
`X-Modelgate-Cache: hit|miss` (the load bench counts them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape

from core import generation
from core.permissions import organization_scope

HEADER = "X-Modelgate-Cache"
_HTMX_HEADERS = ("HTTP_HX_REQUEST", "HTTP_HX_BOOSTED", "HTTP_HX_TARGET", "HTTP_HX_HISTORY_RESTORE_REQUEST")
_SHARED_ATTR = "_modelgate_shared_render"
_WAIT = 3.0  # seconds a request waits for another one computing the same entry
_STALE = 10.0  # at most this old, the page served while another request recomputes it
FLOOR_KEY = "_modelgate_wrote_generation"
_GEN_ATTR = "_modelgate_generation"
_POLL = 0.02


def enabled() -> bool:
    return bool(settings.MODELGATE_PAGE_CACHE)


def _nonce() -> str:
    return hmac.new(settings.SECRET_KEY.encode(), b"modelgate.pagecache", hashlib.sha256).hexdigest()[:24]


class _Marks:
    """The placeholders of a shared render (derived from SECRET_KEY; computed once per process)."""

    def __init__(self) -> None:
        n = _nonce()
        self.csrf = f"mgcsrf{n}"
        self.user = f"mguser{n}"
        self.unless_open = f"<!--mgunless{n}:"
        self.unless_close = f"<!--/mgunless{n}-->"
        self.unless_re = re.compile(re.escape(self.unless_open) + r"(\d+)-->(.*?)" + re.escape(self.unless_close), re.S)


_marks: _Marks | None = None


def marks() -> _Marks:
    global _marks
    if _marks is None:
        _marks = _Marks()
    return _marks


def key(kind: str, gen: int, *parts: Any) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"mg:{kind}:{gen}:{digest}"


def shared_render(request: HttpRequest) -> bool:
    """Whether this request renders a page for a whole audience (placeholders instead of user data)."""
    return bool(getattr(request, _SHARED_ATTR, False))


def audience(user: Any, gen: int) -> str:
    """Who would be shown the same pages as this user: "global:<digest>" for users whose roles are all
    global (same superuser status, permissions and role names), else this user alone. Remembered per user
    for the generation (any change of roles, memberships or organizations moves it)."""
    entry = f"mg:audience:{gen}:{user.pk}"
    found = cache.get(entry)
    if found is None:
        found = _audience(user)
        cache.set(entry, found, settings.MODELGATE_PAGE_CACHE_SECONDS)
    return str(found)


def _audience(user: Any) -> str:
    perms = sorted(user.get_all_permissions())
    if any(organization_scope(user, p) is not None for p in perms):
        return f"user:{user.pk}"
    groups = sorted(user.groups.values_list("name", flat=True))
    digest = hashlib.sha256(repr((bool(user.is_superuser), perms, groups)).encode()).hexdigest()
    return f"global:{digest}"


def context(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the user's name, and in a shared render the placeholders for it and the token."""
    if shared_render(request):
        return {"csrf_token": marks().csrf, "display_username": marks().user}
    user = getattr(request, "user", None)
    return {"display_username": SimpleLazyObject(lambda: user.get_username() if user is not None else "")}


def personalize(content: bytes, request: HttpRequest) -> bytes:
    """A shared render made this requester's: their token, their name, without what only others see."""
    m = marks()
    text = content.decode("utf-8")
    user = request.user  # type: ignore[attr-defined]
    me = str(user.pk)
    if m.unless_open in text:
        text = m.unless_re.sub(lambda g: "" if g.group(1) == me else g.group(2), text)
    if m.csrf in text:
        text = text.replace(m.csrf, get_token(request))
    return text.replace(m.user, str(escape(user.get_username()))).encode("utf-8")


def page_parts(request: HttpRequest, gen: int, *, per_user: bool) -> tuple[Any, ...] | None:
    """What identifies this request's page within a generation (None: not cacheable)."""
    user = getattr(request, "user", None)
    if request.method != "GET" or user is None or not user.is_authenticated or _has_pending_messages(request):
        return None
    who = f"user:{user.pk}" if per_user else audience(user, gen)
    where = f"{request.scheme}://{request.get_host()}"  # absolute links ("copy link") are part of the page
    return (where, request.get_full_path(), who, *(request.META.get(h, "") for h in _HTMX_HEADERS))


def _has_pending_messages(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(request.COOKIES.get("messages")) or (session is not None and bool(session.get("_messages")))


def cached_page(
    view: Callable[..., HttpResponseBase] | None = None, *, vary_on_user: Callable[[HttpRequest], bool] | None = None
) -> Any:
    """Serve a view's 200 GET answers from the cache while the data generation has not moved.

    For function views and view methods (`method_decorator(cached_page, name="get")`, below the view's
    permission check). The page must depend only on the data, the URL and the user's audience, except for
    what it renders through the placeholders above; `vary_on_user(request)` true keeps the entry to the
    user alone (a filter such as "assigned to me").
    """

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not enabled():
                return view(request, *args, **kwargs)
            gen = getattr(request, _GEN_ATTR, None) or generation.current()
            parts = page_parts(request, gen, per_user=bool(vary_on_user and vary_on_user(request)))
            if parts is None:
                return view(request, *args, **kwargs)
            latest = key("page-latest", 0, *parts)
            ttl = settings.MODELGATE_PAGE_CACHE_SECONDS

            def compute() -> tuple[bytes, str] | HttpResponseBase:
                setattr(request, _SHARED_ATTR, True)
                try:
                    response = view(request, *args, **kwargs)
                finally:
                    setattr(request, _SHARED_ATTR, False)
                if not _storable(response):
                    return response
                value = (response.content, response["Content-Type"])  # type: ignore[attr-defined]
                cache.set(latest, (gen, time.time(), value), ttl)
                return value

            def stale() -> Any:
                """While another request recomputes this page after a change: the page as it was just before,
                if it is recent and not older than this user's own last write (read-your-writes)."""
                found = cache.get(latest)
                if found is None:
                    return None
                at_gen, at_time, value = found
                session = getattr(request, "session", None)
                floor = int(session.get(FLOOR_KEY, 0)) if session is not None else 0
                return value if at_gen >= floor and time.time() - at_time <= _STALE else None

            found, state = _get_or_compute(key("page", gen, *parts), compute, ttl, stale=stale)
            if isinstance(found, HttpResponseBase):  # not storable: served as it is (placeholders filled)
                if not found.streaming and found.get("Content-Type", "").startswith("text/"):
                    found.content = personalize(found.content, request)  # type: ignore[attr-defined]
                return found
            content, content_type = found
            response = HttpResponse(personalize(content, request), content_type=content_type)
            response[HEADER] = state
            return response

        return wrapper

    return decorate(view) if view is not None else decorate


# Where Django's ModelBackend and identity's membership scope keep what they computed for a user object.
_PERM_ATTRS = ("_perm_cache", "_user_perm_cache", "_group_perm_cache", "_membership_scope_cache")


class GenerationMiddleware:
    """Per request, once: the data generation, and with it what the permission checks need.

    - A signed-in user's permissions and organization scope are restored from the cache for the current
      generation (any change of roles, permissions, memberships or organizations moves it), so a page does
      not re-read them; what a request computed is kept for the next one.
    - After a request that changed governance data, the generation it left behind is kept in the session:
      a page served stale while being recomputed (`cached_page`) is never older than the user's own write.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        if writes:
            generation.forget_writes()
        user = getattr(request, "user", None)
        perms_key = None
        if enabled() and user is not None and user.is_authenticated:
            gen = generation.current()
            setattr(request, _GEN_ATTR, gen)
            perms_key = f"mg:perms:{gen}:{user.pk}:{int(user.is_active)}:{int(user.is_superuser)}"
            found = cache.get(perms_key)
            if found is not None:
                for attr, value in found.items():
                    setattr(user, attr, value)
                perms_key = None
        response = self.get_response(request)
        if perms_key is not None:
            computed = {a: getattr(user, a) for a in _PERM_ATTRS if hasattr(user, a)}
            if computed:
                cache.set(perms_key, computed, settings.MODELGATE_PAGE_CACHE_SECONDS)
        if writes and generation.wrote():
            session = getattr(request, "session", None)
            who = getattr(request, "user", None)
            if session is not None and who is not None and who.is_authenticated:
                session[FLOOR_KEY] = generation.current()
        return response


def _storable(response: HttpResponseBase) -> bool:
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not response.has_header("HX-Trigger")
        and not response.has_header("HX-Redirect")
        and "no-store" not in response.get("Cache-Control", "")
    )


class _Flight:
    """One computation of an entry in this process; the other requests of the process wait on it."""

    def __init__(self) -> None:
        self.done = threading.Event()


_flights: dict[str, _Flight] = {}
_flights_lock = threading.Lock()


def _get_or_compute(
    entry: str,
    compute: Callable[[], Any],
    ttl: float | Callable[[Any], float],
    *,
    stale: Callable[[], Any] | None = None,
) -> tuple[Any, str]:
    """The entry's value and where it came from ("hit", "miss", "stale"). One computer at a time per entry:
    in a process the other requests wait on it (no polling); across processes sharing the cache, a lock
    in the cache elects one and the others' single waiter polls. A waiter gets `stale()` when it has
    something, else the result, or after `_WAIT` seconds computes itself. A computed HttpResponseBase is a
    refusal to store (returned, not cached)."""
    found = cache.get(entry)
    if found is not None:
        return found, "hit"
    with _flights_lock:
        flight = _flights.get(entry)
        leader = flight is None
        if leader:
            flight = _flights[entry] = _Flight()
    assert flight is not None
    if not leader:
        old = stale() if stale is not None else None
        if old is not None:
            return old, "stale"
        flight.done.wait(_WAIT)
        found = cache.get(entry)
        if found is not None:
            return found, "hit"
        value, _stored = _compute_and_store(entry, compute, ttl)
        return value, "miss"
    try:
        lock = f"{entry}:lock"
        mine = cache.add(lock, 1, timeout=int(_WAIT) + 2)
        if not mine:  # another process computes it
            old = stale() if stale is not None else None
            if old is not None:
                return old, "stale"
            deadline = time.monotonic() + _WAIT
            while time.monotonic() < deadline:
                time.sleep(_POLL)
                found = cache.get(entry)
                if found is not None:
                    return found, "hit"
                if cache.get(lock) is None:  # it gave up (not storable, or failed): compute here
                    break
        try:
            value, _stored = _compute_and_store(entry, compute, ttl)
            return value, "miss"
        finally:
            if mine:
                cache.delete(lock)
    finally:
        with _flights_lock:
            _flights.pop(entry, None)
        flight.done.set()


def _compute_and_store(entry: str, compute: Callable[[], Any], ttl: float | Callable[[Any], float]) -> tuple[Any, bool]:
    value = compute()
    if isinstance(value, HttpResponseBase):
        return value, False
    seconds = ttl(value) if callable(ttl) else ttl
    if seconds > 0:
        cache.set(entry, value, seconds)
        return value, True
    return value, False


def remember(kind: str, parts: tuple[Any, ...], compute: Callable[[], Any], *, ttl: Callable[[Any], float]) -> Any:
    """`compute()`'s value for these parts in the current data generation, from the cache when there;
    `ttl(value)` bounds how long it stays (seconds; <= 0: not stored). Returns (value, hit)."""
    if not enabled():
        return compute(), False
    value, state = _get_or_compute(key(kind, generation.current(), *parts), compute, ttl)
    return value, state == "hit"
