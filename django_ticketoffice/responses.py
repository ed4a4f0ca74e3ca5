"""Responses for refused tickets, and the headers of every response that handles credentials."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.utils.translation import get_language

from .conf import app_settings
from .exceptions import TicketError
from .links import new_link_url
from .utils import import_member

TEMPLATES = {
    400: "ticketoffice/403.html",
    401: "ticketoffice/401.html",
    403: "ticketoffice/403.html",
    503: "ticketoffice/503.html",
}
BASE_TEMPLATE = "ticketoffice/base.html"
# Our own templates: static pages that read nothing but ``reason``.
_OWN_TEMPLATES = Path(__file__).resolve().parent / "templates"
# (template name, reason, language, new-link URL) -> rendered page, for our own templates only.
_pages: dict[tuple[str, str, str | None, str | None], bytes] = {}
# Refusals that may offer a new link: the credential was genuine, and is over.
RENEWABLE = frozenset({"expired", "used", "revoked", "locked"})
_pages_lock = threading.Lock()
NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"

RefusalHandler = Callable[[HttpRequest, TicketError], HttpResponse]


def protect_response(response: HttpResponse, referrer_policy: str = "no-referrer") -> HttpResponse:
    """Keep a response that carries or accepts credentials out of caches and referrers.

    Pages whose own URL carries a credential get ``no-referrer``. Pages reached
    through the clean URL may pass ``"same-origin"``: other sites still see
    nothing, while the browser keeps sending a real ``Origin`` on same-site
    form posts (with ``no-referrer`` it sends ``Origin: null``, which Django's
    CSRF protection refuses).
    """
    # Set outright: this runs on every refusal, and no earlier value may weaken it.
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Referrer-Policy"] = referrer_policy
    return response


def _is_own(template_name: str) -> bool:
    """Tell whether ``template_name`` resolves to this package's copy (not overridden)."""
    template = get_template(template_name)
    origin = getattr(getattr(template, "origin", None), "name", "") or ""
    return Path(origin).resolve().is_relative_to(_OWN_TEMPLATES)


def refuse(request: HttpRequest, error: TicketError) -> HttpResponse:
    """Render the default refusal page: 401 without a ticket, 403 when refused.

    The page names the reason (used, expired, revoked) only when the
    credential was genuine, and only then offers the "request a new link"
    URL of ``TICKETOFFICE_NEW_LINK_URLS``; a forgery, an unknown ticket or a
    wrong secret gets the one generic "invalid" page, so that it tells nothing.

    Our own templates are static, so with DEBUG off each page is rendered
    once per reason and language and then served from memory: a flood of
    forged or replayed links costs no template rendering. A project that
    overrides ``ticketoffice/4xx.html`` or ``ticketoffice/base.html`` gets a
    normal ``TemplateResponse``,
    with the request and its context processors.
    """
    reason = error.reason if error.genuine or error.status_code != 403 else "invalid"
    template_name = TEMPLATES.get(error.status_code, TEMPLATES[403])
    language = get_language()
    new_link = None
    if reason in RENEWABLE and error.genuine:
        new_link = new_link_url(error.place or "", error.purpose or "")
    key = (template_name, reason, language, new_link)
    page = _pages.get(key)
    if page is None:
        context = {
            "reason": reason,
            "message": error.message if error.genuine else None,
            "new_link_url": new_link,
            "LANGUAGE_CODE": language,
        }
        if settings.DEBUG or not all(map(_is_own, (template_name, BASE_TEMPLATE))):
            return TemplateResponse(request, template_name, context, status=error.status_code)
        page = get_template(template_name).render(context).encode()
        with _pages_lock:
            _pages[key] = page
    return HttpResponse(page, status=error.status_code)


@receiver(setting_changed)
def _forget_pages(*, setting: str, **kwargs: object) -> None:
    if setting in {"TEMPLATES", "DEBUG", "INSTALLED_APPS", "LANGUAGE_CODE", "LANGUAGES"}:
        with _pages_lock:
            _pages.clear()


def get_refusal_handler(handler: RefusalHandler | str | None = None) -> RefusalHandler:
    """Return ``handler``, else TICKETOFFICE_REFUSAL_HANDLER, else :func:`refuse`."""
    handler = handler or app_settings.REFUSAL_HANDLER
    if handler is None:
        return refuse
    if isinstance(handler, str):
        resolved: RefusalHandler = import_member(handler)
        return resolved
    return handler
