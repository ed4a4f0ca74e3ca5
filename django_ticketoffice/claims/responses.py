"""Conclude a claim on its response: at once, or once a lazy response has rendered."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase


def conclude_on(claim: Any, response: HttpResponseBase) -> None:
    """Settle or undo ``claim`` (taken) on ``response``'s status code.

    A ``TemplateResponse`` that is not rendered yet decides when Django
    renders it: a failing render undoes the claim, and so does a response that
    is closed without ever being rendered.
    """
    render = getattr(response, "render", None)
    if callable(render) and not getattr(response, "is_rendered", True):
        _after_render(claim, response)
    else:
        claim.conclude(response.status_code)


def _after_render(claim: Any, response: Any) -> None:
    """Hook ``render`` and ``close`` of ``response``.

    The hooks are instance attributes that remove themselves when called,
    so the response is left as Django made it.
    """

    def render() -> Any:
        del response.render
        try:
            rendered = response.render()
        except BaseException:
            claim.undo()
            raise
        claim.conclude(rendered.status_code)
        return rendered

    def close() -> None:
        del response.close
        try:
            # Closed without being rendered (a middleware replaced it): the
            # action did not visibly happen. A no-op once settled. Before
            # close(), whose request_finished signal closes connections.
            claim.undo()
        finally:
            response.close()

    response.render = render
    response.close = close
