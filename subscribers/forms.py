"""Forms for the public pages. They parse and bound user input; the services decide what it means."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from digest.models import Frequency
from subscribers import services

# Shown beside the button and stored verbatim as the consent record, so what was agreed to is what was shown.
CONSENT_TEXT = (
    "Send me the trending-papers email at the frequency I chose. I can change my preferences or unsubscribe "
    "with one click from any email."
)
HONEYPOT_FIELD = "website"
# Django's own message quotes the value sent, whatever its length; the choices are on the page already.
NOT_A_CHOICE = "Choose one of the options shown."


class EchoCappedCharField(forms.CharField):
    """A text field whose value, shown again beside its error, is cut to ``max_length``.

    Validation still sees everything that was sent; only the re-display is capped, so a megabyte of junk posted
    to a public form is answered with its first few hundred characters, not echoed back in full.
    """

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str) and self.max_length is not None:
            return value[: self.max_length]
        return value


class SubscribeForm(forms.Form):
    email = EchoCappedCharField(
        max_length=services.EMAIL_MAX_LENGTH,
        strip=False,  # normalize_email refuses inner control characters instead of silently trimming them
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "required": True}),
    )
    keywords = EchoCappedCharField(
        required=False,
        max_length=services.KEYWORDS_INPUT_MAX_LENGTH,
        help_text="Optional, comma-separated: papers matching these come first.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. diffusion, robotics, LLM agents"}),
    )
    frequency = forms.ChoiceField(
        choices=Frequency.choices,
        initial=Frequency.DAILY,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": NOT_A_CHOICE},
    )
    # Hidden from people by CSS and aria-hidden; naive bots fill every field they find.
    website = EchoCappedCharField(required=False, max_length=200, label="Leave this empty")

    def clean_email(self) -> str:
        return services.normalize_email(self.cleaned_data["email"])

    def clean_keywords(self) -> list[str]:
        return services.parse_keywords(self.cleaned_data.get("keywords") or "")

    def is_bot(self) -> bool:
        return bool(self.data.get(HONEYPOT_FIELD))


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(services.valid_time_zones())]


class PreferencesForm(forms.Form):
    keywords = EchoCappedCharField(
        required=False,
        max_length=services.KEYWORDS_INPUT_MAX_LENGTH,
        help_text="Comma-separated. Papers matching these come first; you still get the day's top list.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    frequency = forms.ChoiceField(
        choices=Frequency.choices, widget=forms.RadioSelect, error_messages={"invalid_choice": NOT_A_CHOICE}
    )
    time_zone = forms.ChoiceField(
        choices=_time_zone_choices, label="Time zone", error_messages={"invalid_choice": NOT_A_CHOICE}
    )

    def clean_keywords(self) -> list[str]:
        return services.parse_keywords(self.cleaned_data.get("keywords") or "")

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"]
        if value not in services.valid_time_zones():
            raise ValidationError("Choose a time zone from the list.")
        return value
