"""Accounts that prove who sends to us with up to two secrets at once, so a secret can be rotated
without dropping traffic: the abstract model, the admin form fields and the admin columns.

The secrets are stored as Fernet tokens (oms_notify.crypto); the plain values never touch the
database and are never rendered back.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models
from django.utils import timezone

from oms_notify import crypto


class RotatingSecrets(models.Model):
    secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    secrets_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def rotate_secret(self, secret: str, *, keep_previous: bool = True) -> None:
        """Install a new secret; the current one stays valid as the second while senders move."""
        self.previous_secret_encrypted = self.secret_encrypted if keep_previous else ""
        self.secret_encrypted = crypto.encrypt(secret)
        self.secrets_rotated_at = timezone.now()
        self.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "secrets_rotated_at"])

    def drop_previous_secret(self) -> None:
        self.previous_secret_encrypted = ""
        self.save(update_fields=["previous_secret_encrypted"])

    def active_secrets(self) -> list[str]:
        """The plain secrets a signature may be made with: current first."""
        return [s for s in map(crypto.decrypt, (self.secret_encrypted, self.previous_secret_encrypted)) if s]


class RotatingSecretsForm(forms.ModelForm):
    # Write-only: a stored secret is never rendered back.
    new_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Set to rotate: the current secret stays valid as the second one until dropped.",
    )
    drop_previous_secret = forms.BooleanField(required=False, help_text="Stop accepting the previous secret.")


class RotatingSecretsAdminMixin:
    """Admin columns and save handling for a RotatingSecrets model edited with a RotatingSecretsForm."""

    @admin.display(boolean=True)
    def has_secret(self, obj: RotatingSecrets) -> bool:
        return bool(obj.secret_encrypted)

    @admin.display(boolean=True)
    def has_previous_secret(self, obj: RotatingSecrets) -> bool:
        return bool(obj.previous_secret_encrypted)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("new_secret"):
            self.rotate_secret(obj, form.cleaned_data["new_secret"])
        if form.cleaned_data.get("drop_previous_secret"):
            self.drop_previous_secret(obj)

    # Admins route these through their app's service (which may clear caches).
    def rotate_secret(self, obj: RotatingSecrets, secret: str) -> None:
        obj.rotate_secret(secret)

    def drop_previous_secret(self, obj: RotatingSecrets) -> None:
        obj.drop_previous_secret()
