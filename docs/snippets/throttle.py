"""How-to: a per-client throttle in front of the credential views, with django-ratelimit.

The ticket_refused signal counts refusals per client address; a client over
the limit is turned away before any check. People who get their code or link
right are never slowed down.
"""

import functools

from django.dispatch import receiver
from django.http import HttpResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from django_ticketoffice.code_views import CodeSignInView
from django_ticketoffice.decorators import invitation_required
from django_ticketoffice.signals import ticket_refused

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


# [views]
@throttled
@invitation_required(place="museum", purpose="visit")
def visit(request):
    return HttpResponse(f"Welcome {request.ticket.data.get('first_name', 'guest')}")


# Codes typed into the form are throttled like links; asking for codes is
# limited too (it sends mail), with django-ratelimit's own decorator.
@method_decorator(throttled, name="dispatch")
@method_decorator(ratelimit(key="ip", rate="10/h", method="POST", block=True), name="post")
class SignInWithCode(CodeSignInView):
    place = "accounts"
    purpose = "sign-in"
    success_url = "/"

    def send_code(self, form, ticket, token, code):
        pass  # as in the sign-in how-to


# [/views]

urlpatterns = [
    path("visit/", visit, name="visit"),
    path("sign-in/", SignInWithCode.as_view(), name="sign-in"),
]
