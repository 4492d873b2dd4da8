"""Invite links (leads): make one with an expiry and a use limit, list them, revoke one.

The link's key is in the answer that creates it and nowhere else: only its hash is stored.
"""

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Invite
from ..selectors.campaigns import access_campaign_for_lead
from ..services import invites as invite_services
from .permissions import IsLead
from .schema import operation


class InviteOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Invite
        fields = ["id", "created_by", "created_at", "expires_at", "max_uses", "uses", "revoked_at"]


class InviteCreatedSerializer(InviteOutputSerializer):
    url = serializers.URLField(read_only=True, help_text="The sign-up link; shown in this answer only.")

    class Meta(InviteOutputSerializer.Meta):
        fields = [*InviteOutputSerializer.Meta.fields, "url"]


class InviteListCreateApi(APIView):
    """`GET` the campaign's invites; `POST {"days": 7, "max_uses": 1}` -> 201 with the link's `url`."""

    permission_classes = [IsLead]

    class InputSerializer(serializers.Serializer):
        days = serializers.IntegerField(
            required=False,
            default=invite_services.DEFAULT_DAYS,
            min_value=1,
            max_value=invite_services.MAX_DAYS,
        )
        max_uses = serializers.IntegerField(
            required=False,
            default=invite_services.DEFAULT_MAX_USES,
            min_value=1,
            max_value=invite_services.MAX_USES_LIMIT,
        )

    @operation("The campaign's invite links (without their keys)", InviteOutputSerializer(many=True))
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        invites = Invite.objects.filter(campaign=campaign).select_related("created_by")[:500]
        return Response(InviteOutputSerializer(invites, many=True).data)

    @operation(
        "Make an invite link with an expiry and a use limit", {201: InviteCreatedSerializer}, request=InputSerializer
    )
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invite, key = invite_services.invite_create(
            campaign=campaign, created_by=request.user, **serializer.validated_data
        )
        url = request.build_absolute_uri(reverse("invite", args=[key]))
        return Response({**InviteOutputSerializer(invite).data, "url": url}, status=status.HTTP_201_CREATED)


class InviteRevokeApi(APIView):
    """`POST /api/campaigns/{id}/invites/{invite_id}/revoke/` -> the invite, with `revoked_at` set."""

    permission_classes = [IsLead]

    @operation("Revoke an invite link", InviteOutputSerializer, request=None)
    def post(self, request, campaign_id, invite_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        invite = invite_services.invite_revoke(campaign=campaign, invite_id=invite_id)
        return Response(InviteOutputSerializer(invite).data)
