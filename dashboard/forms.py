from datetime import timedelta

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone

from controlplane.accounts.models import User, normalize_email
from controlplane.keys.models import ApiAccess, FilterMode
from controlplane.registry.models import App, Function
from controlplane.runs.models import RunStatus
from controlplane.runs.selectors import RunFilters
from controlplane.tenancy.models import Role


class NewPasswordMixin(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), max_length=128
    )
    password_confirm = forms.CharField(
        label="Repeat password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=128,
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The passwords differ.")
        elif data.get("password"):
            try:
                validate_password(
                    data["password"], User(email=data.get("email", ""), name=data.get("name", ""))
                )
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class SetupForm(NewPasswordMixin):
    name = forms.CharField(label="Your name", max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    organization = forms.CharField(label="Organization name", max_length=100)

    field_order = ["name", "email", "password", "password_confirm", "organization"]

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"])


class SignUpForm(NewPasswordMixin):
    name = forms.CharField(label="Your name", max_length=150, required=False)

    field_order = ["name", "password", "password_confirm"]


class SignInForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), max_length=128
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "text"}
        ),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        max_length=128,
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=100)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(max_length=100)
    require_two_factor = forms.BooleanField(
        label="Require two-factor authentication for every member", required=False
    )


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, allow_owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ReauthForm(forms.Form):
    secret = forms.CharField(
        label="Your password, or a code from your authenticator app",
        max_length=128,
        widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"}),
    )


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(
        max_length=50,
        required=False,
        help_text="Used in URLs. Leave empty to derive it from the name.",
    )


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)


class EventKeyFilterForm(forms.Form):
    mode = forms.ChoiceField(choices=FilterMode.choices, label="Event filter")
    events = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Event names",
        help_text="One per line.",
    )
    networks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Allowed IP addresses or networks",
        help_text="One per line, e.g. 10.0.0.0/8. Empty: any address.",
    )


class AppUrlForm(forms.Form):
    url = forms.URLField(
        label="App URL",
        max_length=2000,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the app serves the Inngest SDK, e.g. https://myapp.com/api/inngest",
        widget=forms.URLInput(attrs={"placeholder": "http://localhost:3000/api/inngest"}),
    )


class EventFilterForm(forms.Form):
    name = forms.CharField(max_length=256, required=False, label="Event name")
    since = forms.DateTimeField(
        required=False,
        label="From (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        required=False,
        label="Until (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("“From” must be before “Until”.")
        return data


class RunFilterForm(forms.Form):
    """The runs list's filters; function and app choices come from the environment only."""

    status = forms.MultipleChoiceField(
        choices=RunStatus.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    function = forms.ModelChoiceField(
        queryset=Function.objects.none(), required=False, to_field_name="public_id"
    )
    app = forms.ModelChoiceField(
        queryset=App.objects.none(), required=False, to_field_name="public_id"
    )
    since = forms.DateTimeField(
        required=False,
        label="From (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        required=False,
        label="Until (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    q = forms.CharField(
        max_length=200, required=False, label="Search", help_text="Event name or output"
    )

    def __init__(self, *args, environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["function"].queryset = environment.functions.order_by("name")
        self.fields["app"].queryset = environment.apps.order_by("app_id")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("“From” must be before “Until”.")
        return data

    def filters(self) -> RunFilters:
        """The valid filters; none at all when the form has errors."""
        if not self.is_valid():
            return RunFilters()
        data = self.cleaned_data
        return RunFilters(
            statuses=tuple(data["status"]),
            function=data["function"],
            app=data["app"],
            since=data["since"],
            until=data["until"],
            q=data["q"].strip(),
        )


class EventSendForm(forms.Form):
    payload = forms.CharField(
        label="Event JSON",
        help_text="One event object or an array of them, as an SDK would send it.",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "data-json": ""}),
        strip=False,
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    access = forms.ChoiceField(choices=ApiAccess.choices, initial=ApiAccess.READ)
    expires_in = forms.TypedChoiceField(
        label="Expires",
        choices=[
            ("", "Never"),
            ("7", "In 7 days"),
            ("30", "In 30 days"),
            ("90", "In 90 days"),
            ("365", "In a year"),
        ],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def expires_at(self):
        days = self.cleaned_data["expires_in"]
        return timezone.now() + timedelta(days=days) if days else None
