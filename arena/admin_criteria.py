"""Admin's criteria inline on the campaign page (kept apart from admin.py, which is near its size limit).

The rules are `criteria_check`'s, the same the API's create applies; a question is also checked
against the campaign's stored contestants for the blind (opening checks it again). Criteria
are fixed once review has opened: answers refer to them.
"""

from django import forms
from django.contrib import admin

from .errors import ArenaError
from .models import Campaign, Criterion
from .services.campaigns import blind_text_leak
from .services.criteria import CRITERIA_MAX, CriterionSpec, criteria_check


class CriterionInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not (self.can_delete and self._should_delete_form(f))]
        kept.sort(key=lambda f: f.cleaned_data.get("position") or 0)
        specs = [
            CriterionSpec(
                key=f.cleaned_data.get("key", ""),
                question=f.cleaned_data.get("question", ""),
                required=f.cleaned_data.get("required", True),
            )
            for f in kept
        ]
        try:
            criteria_check(criteria=specs)
        except ArenaError as exc:
            name = (exc.field or "").rsplit(".", 1)[-1]
            index = (exc.field or "").partition("[")[2].partition("]")[0]
            if index.isdigit() and name in ("key", "question"):
                kept[int(index)].add_error(name, exc.message)
                return
            raise forms.ValidationError(exc.message) from None
        if self.instance.pk:
            leak = blind_text_leak(
                texts={f"criterion {s.key}": s.question for s in specs}, contestants=self.instance.contestants.all()
            )
            if leak is not None:
                raise forms.ValidationError(
                    f"the question of {leak[0]} contains {leak[1]!r}, which reviewers would see"
                )


class CriterionInline(admin.TabularInline):
    """Questions asked beside the overall choice (left/right/tie/both bad each), in position order."""

    model = Criterion
    formset = CriterionInlineFormSet
    extra = 0
    max_num = CRITERIA_MAX
    fields = ["position", "key", "question", "required"]
    verbose_name_plural = f"criteria (at most {CRITERIA_MAX}; asked after the overall choice)"

    def _editable(self, obj) -> bool:
        return obj is None or obj.status not in (Campaign.Status.OPEN, Campaign.Status.CLOSED)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)
