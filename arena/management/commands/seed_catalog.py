"""Seed the model catalog from PRODUCT.md (prices, vendors). Idempotent: lead edits are kept."""

from django.core.management.base import BaseCommand

from arena.models import ModelCatalogEntry
from arena.services.catalog import catalog_seed


class Command(BaseCommand):
    help = "Create the missing model catalog entries (PRODUCT.md's models, vendors and prices)."

    def handle(self, *args, **options):
        created = catalog_seed()
        self.stdout.write(f"model catalog: {created} created, {ModelCatalogEntry.objects.count()} in total")
