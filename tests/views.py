from django.http import HttpResponse
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
