"""The contestant inline's form: pick a model from the catalog to fill its id and prices.

The catalog select's options carry each entry's API id and prices as data attributes, and
static/arena/admin_catalog.js copies them into the row's fields when the lead picks one, so
the lead sees (and may still edit) what will be saved. The form applies the same pick on the
server for what was left empty, so it works without the script too: an empty model id, label
or price takes the catalog entry's; a typed one is kept.
"""

from django import forms

from .models import Contestant, ModelCatalogEntry


class CatalogSelect(forms.Select):
    """A select whose options carry the entry's API id and prices (`data-model`, `data-price-*`)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        entry = getattr(value, "instance", None)
        if entry is not None:
            option["attrs"].update(
                {
                    "data-label": entry.label,
                    "data-model": entry.model,
                    "data-price-out": str(entry.price_per_mtok_out),
                    "data-price-in": str(entry.price_per_mtok_in),
                }
            )
        return option


class CatalogChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        if not obj.model:
            return f"{obj.label} ({obj.vendor}; no API id in the catalog: type it)"
        return f"{obj.label} ({obj.vendor}, ${obj.price_per_mtok_out}/M out)"


# The fields a catalog pick fills when they are left empty.
FILLED_FROM_CATALOG = {
    "label": "label",
    "model": "model",
    "price_per_mtok_out": "price_per_mtok_out",
    "price_per_mtok_in": "price_per_mtok_in",
}


class ContestantForm(forms.ModelForm):
    catalog = CatalogChoiceField(
        queryset=ModelCatalogEntry.objects.all(),
        required=False,
        widget=CatalogSelect(attrs={"class": "catalog-pick"}),
        label="From the catalog",
        help_text="Fills the model id and prices (and the label when empty); edit them after if needed.",
    )

    class Meta:
        model = Contestant
        # The admin inline's fieldsets choose the fields shown; these are the ones it may edit.
        fields = [
            "position",
            "label",
            "model",
            "price_per_mtok_out",
            "price_per_mtok_in",
            "is_baseline",
            "base_url",
            "api_key_env",
            "max_concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "extra_params",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("label", "model", "price_per_mtok_out", "price_per_mtok_in"):
            if name in self.fields:
                self.fields[name].required = False
        for name in ("price_per_mtok_out", "price_per_mtok_in"):
            if name in self.fields:
                self.fields[name].help_text = "$ per million tokens. Empty: the catalog's price, else 0."
                if self.instance.pk is None:
                    self.fields[name].initial = None  # empty, so a catalog pick can fill it
        if self.instance.pk and "catalog" in self.fields:
            self.fields["catalog"].initial = ModelCatalogEntry.objects.filter(model=self.instance.model).first()

    def clean(self):
        cleaned = super().clean()
        entry = cleaned.get("catalog")
        for field, source in FILLED_FROM_CATALOG.items():
            if field not in self.fields or cleaned.get(field) not in (None, ""):
                continue
            value = getattr(entry, source) if entry is not None else None
            if value not in (None, ""):
                cleaned[field] = value
            elif field.startswith("price_"):
                cleaned[field] = Contestant._meta.get_field(field).default
            elif field == "model" and entry is not None:
                self.add_error("model", f"the catalog has no API id for {entry.label}: type the model id")
            else:
                self.add_error(field, "This field is required.")
        return cleaned
