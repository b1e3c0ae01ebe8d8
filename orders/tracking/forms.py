"""Forms of the tracking page; labels come from the page's language catalogue."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils import formats

from orders.tracking.i18n import Words


class LookupForm(forms.Form):
    number = forms.CharField(max_length=32)
    secret = forms.CharField(max_length=254)

    def __init__(self, *args, words: Words, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["number"].label = words["order_number"]
        self.fields["secret"].label = words["email_or_postcode"]
        self.fields["number"].widget.attrs.update({"autocomplete": "off", "autocapitalize": "characters"})
        self.fields["secret"].widget.attrs.update({"autocomplete": "email"})


class InstructionsForm(forms.Form):
    safe_place = forms.ChoiceField(required=False)
    instructions = forms.CharField(max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, words: Words, places: list[tuple[str, str]], **kwargs):
        super().__init__(*args, prefix="ins", **kwargs)
        self.fields["safe_place"].choices = [("", words["safe_none"]), *places]
        self.fields["safe_place"].label = words["safe_place"]
        self.fields["instructions"].label = words["note"]


class RescheduleForm(forms.Form):
    day = forms.TypedChoiceField(coerce=date.fromisoformat)
    window = forms.ChoiceField()

    def __init__(self, *args, words: Words, days: list[date], windows: list[str], **kwargs):
        super().__init__(*args, prefix="rs", **kwargs)
        self.fields["day"].choices = [(d.isoformat(), formats.date_format(d, "l, j F")) for d in days]
        self.fields["day"].label = words["date"]
        self.fields["window"].choices = [(w, w.replace("-", "–")) for w in windows]
        self.fields["window"].label = words["window"]


class FeedbackForm(forms.Form):
    received = forms.TypedChoiceField(coerce=lambda v: v == "yes", widget=forms.RadioSelect)
    score = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        choices=[(str(n), str(n)) for n in range(1, 6)],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, words: Words, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received"].choices = [("yes", words["yes"]), ("no", words["no"])]
        self.fields["received"].label = words["received_q"]
        self.fields["score"].label = words["score_q"]
        self.fields["comment"].label = words["comment"]
