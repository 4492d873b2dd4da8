"""Form fields shared by admin's forms (the API has its own parsers, arena/api/parsers.py)."""

from django import forms
from django.conf import settings
from django.db import models

from .untrusted_json import json_nesting_depth_exceeds, unstorable_string


class StorableJSONField(forms.JSONField):
    """Admin's JSON fields under the API's rules (arena/untrusted_json.py): nesting deeper than
    JSON_MAX_DEPTH is refused before decoding (the decoder recurses), and a string the database
    cannot store (a NUL, which PostgreSQL refuses with a 500, or a lone surrogate) is a form
    error naming its key."""

    def to_python(self, value):
        if isinstance(value, str) and json_nesting_depth_exceeds(value, settings.JSON_MAX_DEPTH):
            raise forms.ValidationError(f"nested deeper than {settings.JSON_MAX_DEPTH} levels")
        return super().to_python(value)

    def bound_data(self, data, initial):
        # The form shown again with its errors decodes what was posted: not when it is too deep.
        if isinstance(data, str) and json_nesting_depth_exceeds(data, settings.JSON_MAX_DEPTH):
            return forms.fields.InvalidJSONInput(data)
        return super().bound_data(data, initial)

    def validate(self, value):
        super().validate(value)
        found = unstorable_string(value)
        if found:
            path, problem = found
            raise forms.ValidationError(f"{path} {problem}")


# Every admin form that edits a JSON column uses StorableJSONField.
STORABLE_JSON = {models.JSONField: {"form_class": StorableJSONField}}
