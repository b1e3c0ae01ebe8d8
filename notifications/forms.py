from __future__ import annotations

from django import forms
from django.utils import timezone

from notifications.models import CustomerPreferences


class PreferencesForm(forms.Form):
    """What a customer may change: which channels they want and their quiet hours."""

    email = forms.BooleanField(required=False, label="Email")
    sms = forms.BooleanField(required=False, label="Text messages (SMS)")
    whatsapp = forms.BooleanField(required=False, label="WhatsApp")
    push = forms.BooleanField(required=False, label="App notifications")
    quiet_hours_enabled = forms.BooleanField(required=False, label="No texts or app notifications at night")
    quiet_start = forms.TimeField(label="Quiet from")
    quiet_end = forms.TimeField(label="Quiet until")

    def __init__(self, *args, prefs: CustomerPreferences, **kwargs) -> None:
        self.prefs = prefs
        customer = prefs.customer
        initial = {
            ch: getattr(customer, f"consent_{ch}") and not prefs.opted_out(ch)
            for ch in ("email", "sms", "whatsapp", "push")
        }
        initial.update(
            quiet_hours_enabled=prefs.quiet_hours_enabled, quiet_start=prefs.quiet_start, quiet_end=prefs.quiet_end
        )
        super().__init__(*args, initial=initial, **kwargs)

    def save(self) -> CustomerPreferences:
        prefs, customer = self.prefs, self.prefs.customer
        data = self.cleaned_data
        for channel in ("email", "sms", "whatsapp", "push"):
            wanted = data[channel]
            setattr(prefs, f"{channel}_opted_out", not wanted)
            if wanted and not getattr(customer, f"consent_{channel}"):
                # Ticking a box here is the customer's own consent.
                setattr(customer, f"consent_{channel}", True)
                customer.consent_updated_at = timezone.now()
        customer.save(
            update_fields=["consent_email", "consent_sms", "consent_whatsapp", "consent_push", "consent_updated_at"]
        )
        prefs.quiet_hours_enabled = data["quiet_hours_enabled"]
        prefs.quiet_start, prefs.quiet_end = data["quiet_start"], data["quiet_end"]
        prefs.save()
        return prefs
