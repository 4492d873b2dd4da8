"""Who is a lead: a staff user with the campaign permissions (or a superuser)."""

from rest_framework.permissions import BasePermission

from ..selectors.campaigns import is_lead


class IsLead(BasePermission):
    message = "Only campaign leads may do this."

    def has_permission(self, request, view):
        return is_lead(request.user)
