"""The invite page: whoever opens a lead's invite link signs up (or, logged in, joins) as a reviewer.

Every rule (expiry, use limit, revocation, one membership per user, Django's password
validators) lives in arena/services/invites.py; this page shows its form and its refusals.
"""

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from ..errors import ArenaError
from ..models import Campaign
from ..services.invites import invite_accept, invite_for_key, invite_sign_up


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


def _refused(request, error: ArenaError):
    return render(request, "arena/invite.html", {"invalid": True, "reason": error.message}, status=400)


def _after_joining(campaign: Campaign):
    return redirect(
        reverse("review", args=[campaign.id]) if campaign.status == Campaign.Status.OPEN else reverse("home")
    )


@require_http_methods(["GET", "POST"])
def invite_page(request, key):
    try:
        campaign = invite_for_key(key=key).campaign
    except ArenaError as error:
        return _refused(request, error)
    context = {"campaign": {"id": campaign.id, "name": campaign.name}, "key": key}
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                invite_accept(key=key, user_id=request.user.pk)
            except ArenaError as error:
                return _refused(request, error)
            return _after_joining(campaign)
        return render(request, "arena/invite.html", {**context, "join": True})
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invite_sign_up(
                key=key, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ArenaError as error:
            if error.field == "key":
                return _refused(request, error)
            form.add_error("password2" if error.field == "password" else "username", error.message)
        else:
            # The password backend is the last one: django-axes' comes first and logs no one in.
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[-1])
            return _after_joining(campaign)
    return render(request, "arena/invite.html", {**context, "form": form})
