"""Serializer fields whose bounds come from the model column they fill.

A number the column cannot hold (`seed` 2**64, `max_tokens` 10**20) must be a 400 naming the
field, not a database error at INSERT time. The bounds are read from the model field, so a
column changed in a migration changes the API with it. Integer ranges are Django's portable
ones (`BaseDatabaseOperations.integer_field_ranges`, PostgreSQL's sizes) rather than the
connection's: SQLite would store far larger integers, and the API must answer the same request
the same way on either database.
"""

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from rest_framework import serializers


def _model_field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)


def column_integer_field(model: type[models.Model], name: str, **kwargs) -> serializers.IntegerField:
    """An IntegerField limited to the column's range, and to min_value/max_value if narrower."""
    low, high = BaseDatabaseOperations.integer_field_ranges[_model_field(model, name).get_internal_type()]
    kwargs["min_value"] = low if kwargs.get("min_value") is None else max(low, kwargs["min_value"])
    kwargs["max_value"] = high if kwargs.get("max_value") is None else min(high, kwargs["max_value"])
    return serializers.IntegerField(**kwargs)


def column_decimal_field(model: type[models.Model], name: str, **kwargs) -> serializers.DecimalField:
    """A DecimalField with the column's max_digits and decimal_places."""
    field = _model_field(model, name)
    return serializers.DecimalField(max_digits=field.max_digits, decimal_places=field.decimal_places, **kwargs)
