"""Forms of the support admin. They validate input only; the admin hands the result to services."""

from __future__ import annotations

from django import forms

from orders.models import Order
from orders.statuses import OrderStatus

FLAG_FIELDS = ("inventory_allocated", "regulatory_hold", "regulatory_hold_reason")
ADDRESS_FIELDS = (
    "ship_name",
    "ship_line1",
    "ship_line2",
    "ship_city",
    "ship_region",
    "ship_postcode",
    "ship_country",
    "ship_latitude",
    "ship_longitude",
)


class OrderAdminForm(forms.ModelForm):
    """The editable part of an order: its flags (saved through the service) and its address."""

    class Meta:
        model = Order
        fields = [*FLAG_FIELDS, *ADDRESS_FIELDS]
        widgets = {"regulatory_hold_reason": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The page posts back the flag values it was rendered with, so "changed" means "the user
        # touched it", not "differs from the database now": a stale page must not clear a hold
        # (or an allocation) that someone else set after it was loaded.
        for name in FLAG_FIELDS:
            if name in self.fields:
                self.fields[name].show_hidden_initial = True

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("regulatory_hold") and not (cleaned.get("regulatory_hold_reason") or "").strip():
            self.add_error("regulatory_hold_reason", "A regulatory hold needs a reason.")
        return cleaned


class CancelOrderForm(forms.Form):
    """Asked before the cancel transition: the reason goes into the audit row."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the order is cancelled. Recorded in the status history.",
    )


class OverrideStatusForm(forms.Form):
    status = forms.ChoiceField(label="New status", choices=())
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Mandatory. Recorded in the status history with your name.",
    )
    notify = forms.BooleanField(
        label="Notify the customer",
        required=False,
        help_text="Send the customer the message for the new status, as if the order had moved there itself.",
    )

    def __init__(self, *args, current_status: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Overriding to the status the order already has is never meant.
        self.fields["status"].choices = [
            ("", "---------"),
            *((value, label) for value, label in OrderStatus.choices if value != current_status),
        ]
