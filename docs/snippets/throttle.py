"""How-to: a per-client throttle in front of the credential views, with django-ratelimit.

The ticket_refused signal counts refusals per client address; a client over
the limit is turned away before any check. People who get their code or link
right are never slowed down.
"""

import functools

from django.dispatch import receiver
from django.http import HttpResponse
from django.urls import path
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from django_ticketoffice.signals import ticket_refused

from .sign_in_with_code import SignInWithCode, sign_in_confirm, signed_in

# [throttle]
REFUSALS = "ticketoffice-refusals"  # the django-ratelimit group
RATE = "20/h"  # refusals per client address


@receiver(ticket_refused, dispatch_uid="throttle-ticket-refusals")
def count_refusal(sender, request, **kwargs):
    if request is not None:
        is_ratelimited(request, group=REFUSALS, key="ip", rate=RATE, increment=True)


def throttled(view):
    """Turn away a client with too many refusals, before any lookup or hash."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if is_ratelimited(request, group=REFUSALS, key="ip", rate=RATE, increment=False):
            return HttpResponse("Too many attempts. Try again later.", status=429)
        return view(request, *args, **kwargs)

    return wrapper


# [/throttle]

# [urls]
# The views of the sign-in guide, throttled: wrong codes and bad links count as
# refusals. Asking for a code sends mail, so POSTs are limited per client too,
# with django-ratelimit's own decorator (over the limit: 403).
sign_in = ratelimit(key="ip", rate="10/h", method="POST", block=True)(SignInWithCode.as_view())

urlpatterns = [
    path("sign-in/", throttled(sign_in), name="sign-in"),
    path("sign-in/confirm/", throttled(sign_in_confirm), name="sign-in-confirm"),
    path("sign-in/done/", signed_in, name="signed-in"),
]
# [/urls]
