from django.shortcuts import render

from django_ticketoffice.decorators import invitation_required, stamp_invitation


@invitation_required(place="museum", purpose="visit")
@stamp_invitation(methods=["POST"])
def visit(request):
    # GET shows the invitation; the POST of its button uses the ticket, once.
    context = {"name": request.ticket.data["name"], "confirmed": request.method == "POST"}
    return render(request, "museum/visit.html", context)
