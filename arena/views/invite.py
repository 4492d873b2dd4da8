"""Invite links: a lead shares a signed link; whoever opens it becomes a reviewer of the campaign.

The link carries `{"c": campaign id, "exp": unix time}` signed with Django's signing (the
SECRET_KEY and a salt of its own), so it cannot be forged or extended. A new user signs up
through it (username + password) and is logged in; a logged-in user joins with one click.
"""

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.permissions import IsLead
from ..models import CampaignReviewer
from ..selectors.campaigns import access_campaign_for_lead
from ..services.invites import DEFAULT_DAYS, MAX_DAYS, invite_campaign, invite_token_make


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


@require_http_methods(["GET", "POST"])
def invite_page(request, token):
    campaign = invite_campaign(token)
    if campaign is None:
        return render(request, "arena/invite.html", {"invalid": True}, status=400)
    context = {"campaign": {"id": campaign.id, "name": campaign.name}, "token": token}
    if request.user.is_authenticated:
        if request.method == "POST":
            CampaignReviewer.objects.get_or_create(campaign=campaign, user=request.user)
            return redirect(reverse("review", args=[campaign.id]) if campaign.status == "open" else reverse("home"))
        return render(request, "arena/invite.html", {**context, "join": True})
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            CampaignReviewer.objects.get_or_create(campaign=campaign, user=user)
        # The password backend is the last one: django-axes' comes first and logs no one in.
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[-1])
        return redirect(reverse("review", args=[campaign.id]) if campaign.status == "open" else reverse("home"))
    return render(request, "arena/invite.html", {**context, "form": form})


class InviteCreateApi(APIView):
    """`POST /api/campaigns/{id}/invites/` `{"days": 7}` -> 201 `{"url", "expires_at"}` (leads only)."""

    permission_classes = [IsLead]

    class InputSerializer(serializers.Serializer):
        days = serializers.IntegerField(required=False, default=DEFAULT_DAYS, min_value=1, max_value=MAX_DAYS)

    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, expires = invite_token_make(campaign=campaign, days=serializer.validated_data["days"])
        url = request.build_absolute_uri(reverse("invite", args=[token]))
        return Response({"url": url, "expires_at": expires}, status=201)
