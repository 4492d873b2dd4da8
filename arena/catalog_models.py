"""The model catalog: known models with their prices, offered when a lead adds a contestant."""

from decimal import Decimal

from django.db import models


class ModelCatalogEntry(models.Model):
    """Known models with their prices and vendor, editable by leads; seeded from the brief."""

    label = models.CharField(max_length=100, unique=True)
    model = models.CharField(max_length=200, blank=True, help_text="API id, when known.")
    vendor = models.CharField(max_length=100)
    price_per_mtok_out = models.DecimalField(max_digits=10, decimal_places=4)
    price_per_mtok_in = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    aliases = models.JSONField(default=list, blank=True, help_text="Other names that identify the model in a text.")

    class Meta:
        ordering = ["vendor", "label"]
        verbose_name = "catalog model"
        verbose_name_plural = "model catalog"

    def __str__(self) -> str:
        return self.label
