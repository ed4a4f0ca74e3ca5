"""How-to: RFC 8058 one-click unsubscribe links, from django_ticketoffice.contrib.unsubscribe."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.mail import EmailMessage
from django.urls import path

from django_ticketoffice.contrib.unsubscribe import UnsubscribeView, unsubscribe_headers


# [send]
def send_newsletter(user, newsletter, subject, body):
    """One message of a mailing, with its own one-click unsubscribe link."""
    headers = unsubscribe_headers(user.email, newsletter)
    EmailMessage(subject, body, to=[user.email], headers=headers).send()


# [/send]


# [handler]
def unsubscribe(recipient, mailing_list, *, ticket, request):
    """Here the subscribers of a newsletter are the members of a group of that name."""
    group = Group.objects.filter(name=mailing_list).first()
    if group is not None:
        group.user_set.remove(*get_user_model().objects.filter(email__iexact=recipient))


# [/handler]

# [urls]
urlpatterns = [
    path("unsubscribe/", UnsubscribeView.as_view(handler=unsubscribe), name="unsubscribe"),
]
# [/urls]
