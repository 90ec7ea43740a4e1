"""The form that starts a bulk cancel or bulk replay of one function's runs."""

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from controlplane.bulk.models import DEFAULT_PACE, BulkKind
from controlplane.bulk.services import MAX_PACE, BulkRefused, run_filter_build
from controlplane.runs.models import RunStatus

_WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class BulkActionForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    started_after = forms.DateTimeField(label="Runs started from (UTC)", widget=_WHEN)
    started_before = forms.DateTimeField(label="Until (UTC)", widget=_WHEN)
    expression = forms.CharField(
        label="If (optional)",
        required=False,
        help_text="A CEL expression over the trigger event, e.g. event.data.userId == 'u_1'",
    )
    statuses = forms.MultipleChoiceField(
        label="Runs that",
        choices=[(RunStatus.FAILED, "failed"), (RunStatus.CANCELLED, "were cancelled")],
        widget=forms.CheckboxSelectMultiple,
        initial=[RunStatus.FAILED],
    )
    pace = forms.IntegerField(
        label="Pace (runs per second)", min_value=1, max_value=MAX_PACE, initial=DEFAULT_PACE
    )

    def __init__(self, *args, function, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.function, self.kind = function, kind
        now = timezone.now().replace(second=0, microsecond=0)
        self.fields["started_after"].initial = now - timedelta(days=1)
        self.fields["started_before"].initial = now + timedelta(minutes=1)
        if kind == BulkKind.CANCEL:
            del self.fields["statuses"], self.fields["pace"]
        else:
            self.fields["name"].required = True

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["run_filter"] = run_filter_build(
                function=self.function,
                kind=self.kind,
                started_after=data["started_after"],
                started_before=data["started_before"],
                expression=data["expression"],
                statuses=data.get("statuses"),
            )
        except BulkRefused as refused:
            raise ValidationError(str(refused)) from None
        return data
