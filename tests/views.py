from django.http import HttpResponse, JsonResponse
from django.views.generic import TemplateView

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.views import InvitationRequiredMixin

from .models import Visit


# The 0.2 README example, modernised only for path().
@invitation_required(place="louvre", purpose="visit")
@stamp_invitation
def visit_louvre(request):
    ticket = request.cache["invitation"]
    return HttpResponse(
        "Welcome to the Louvre museum {guest}".format(guest=ticket.data["first_name"])
    )


@invitation_required(place="louvre", purpose="visit")
def peek(request):
    return HttpResponse(f"peek {request.ticket.uuid} {request.GET.get('page', '')}")


@invitation_required(place="louvre", purpose="visit")
@stamp_invitation(methods=["POST"])
def confirm(request):
    if request.method == "POST":
        Visit.objects.create(ticket_uuid=request.ticket.uuid)
        return HttpResponse("confirmed")
    return HttpResponse("please confirm")


@invitation_required(place="louvre", purpose="visit")
@stamp_invitation
def fail(request, status):
    return HttpResponse("failed", status=status)


@invitation_required(place="louvre", purpose="visit")
@stamp_invitation
def boom(request):
    raise RuntimeError("the view failed")


@invitation_required(place="louvre", purpose="visit")
async def async_visit(request):
    return HttpResponse(f"async {request.ticket.uuid}")


@invitation_required(place="louvre", purpose="visit")
@stamp_invitation
async def async_stamp(request):
    return HttpResponse("async stamped")


@invitation_required(place="louvre", purpose="visit", redirect=False)
@stamp_invitation
def race(request):
    Visit.objects.create(ticket_uuid=request.ticket.uuid)
    return HttpResponse("raced")


class LouvreView(InvitationRequiredMixin, TemplateView):
    place = "louvre"
    purpose = "visit"
    stamp = True

    def get(self, request, *args, **kwargs):
        return HttpResponse(f"cbv {self.ticket.data.get('first_name', '')}")


# Views below serve the decorator tests (tests/test_decorators.py).


@invitation_required(place="orsay", purpose="visit")
def orsay(request):
    return HttpResponse("orsay")


@invitation_required(place="louvre", purpose="visit")
def inspect(request):
    """Report what the decorator attached to the request."""
    ticket = request.ticket
    return JsonResponse(
        {
            "uuid": str(ticket.uuid),
            "same": ticket is request.invitation and ticket is request.cache["invitation"],
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "query": request.GET.urlencode(),
            "note": request.POST.get("note", ""),
            "method": request.method,
        }
    )


def custom_refusal(request, error):
    """A project's own refusal handler."""
    return HttpResponse(f"custom {error.reason}", status=error.status_code)


@invitation_required(place="louvre", purpose="visit", refusal_handler=custom_refusal)
def handled(request):
    return HttpResponse("handled")


@invitation_required(place="louvre", purpose="visit")
def anywhere(request, prefix):
    return HttpResponse("anywhere")


@stamp_invitation
def unguarded(request):
    return HttpResponse("never reached")


@invitation_required(place="louvre", purpose="visit")
def room(request, room):
    return HttpResponse(f"room {room}")


# Views below serve the seam tests (tests/test_seams.py, tests/test_servers.py).


class Exhibit:
    """Template context whose rendering fails on demand, as a lazy queryset may."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken

    @property
    def title(self) -> str:
        if self.broken:
            raise RuntimeError("the template failed to render")
        return "Mona Lisa"


class GalleryView(InvitationRequiredMixin, TemplateView):
    """The documented class-based pattern: stamp = True on a TemplateView."""

    place = "louvre"
    purpose = "visit"
    stamp = True
    template_name = "tests/gallery.html"

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "exhibit": Exhibit("broken" in self.request.GET),
        }


@invitation_required(place="louvre", purpose="visit", redirect=False)
@stamp_invitation
def lazy(request):
    """A function view answering a lazy TemplateResponse (with ``?broken`` it fails to render)."""
    from django.template.response import TemplateResponse

    Visit.objects.create(ticket_uuid=request.ticket.uuid)
    status = int(request.GET.get("status", 200))
    context = {"exhibit": Exhibit("broken" in request.GET), "view": {"ticket": request.ticket}}
    return TemplateResponse(request, "tests/gallery.html", context, status=status)


@invitation_required(place="louvre", purpose="visit", redirect=False)
@stamp_invitation
def revoked_midway(request):
    """Staff revoke the ticket while this view runs; then the view fails or succeeds."""
    from django_ticketoffice.models import Ticket

    revoked = Ticket.objects.get(pk=request.ticket.pk).revoke()
    return HttpResponse(f"revoke() said {revoked}", status=int(request.GET.get("status", 500)))


@invitation_required(place="louvre", purpose="visit", redirect=False)
def report(request):
    """A view that fails with the credential still in the URL (redirect=False)."""
    raise RuntimeError("a bug in the project's view")


@invitation_required(place="louvre", purpose="visit", redirect=False)
@stamp_invitation
def slow(request):
    """Sleep (``?sleep=``), then write a Visit: the database may be gone by then."""
    import time

    time.sleep(float(request.GET.get("sleep", 0)))
    Visit.objects.create(ticket_uuid=request.ticket.uuid)
    return HttpResponse("slow")


@invitation_required(place="louvre", purpose="visit", redirect=False)
@stamp_invitation
async def async_race(request):
    from asgiref.sync import sync_to_async

    await sync_to_async(Visit.objects.create)(ticket_uuid=request.ticket.uuid)
    return HttpResponse("async raced")


# Views below serve the code tests (tests/test_codes.py).

from django_ticketoffice.code_views import CodeSignInView  # noqa: E402

# What CodeView "sent": (email, uuid, token, code), newest last.
OUTBOX: list[tuple[str, str, str, str]] = []


class CodeView(CodeSignInView):
    """Sign in to the Louvre with a code; nobody@example.com has no account."""

    place = "louvre"
    purpose = "visit"
    success_url = "race"

    def ticket_data(self, form):
        email = form.cleaned_data["email"]
        return None if email == "nobody@example.com" else {"email": email}

    def send_code(self, form, ticket, token, code):
        OUTBOX.append((form.cleaned_data["email"], str(ticket.uuid), token, code))


class BrokenCodeView(CodeView):
    """Fails after a right code, so that an error report is made of the request."""

    def get_success_url(self, ticket):
        raise RuntimeError("a bug after the code was checked")
