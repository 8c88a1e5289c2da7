"""A change the services refuse comes back to the admin as its form, as typed, with the refusal as its error."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from config.admin_base import ModelAdmin
from config.errors import DomainError

_REFUSAL = "_modelgov_service_refusal"


class ServiceRefused(Exception):
    """Raised by save_model when the service refused the change (its transaction has rolled back)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.message = error.message


class ServiceFormAdmin(ModelAdmin):
    """Redirecting after a refusal lost what was typed (a long JSON policy, say). The view runs again with
    the same POST, and the form it builds then fails validation with the service's message, so nothing is
    saved and the page shows the form as it was sent."""

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ServiceRefused as refused:
            setattr(request, _REFUSAL, refused.message)
            return super().changeform_view(request, *args, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)  # UserAdmin takes it by name only
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form

        class Refused(form):  # type: ignore[misc, valid-type]
            def clean(self) -> Any:
                super().clean()
                raise forms.ValidationError(f"Refused: {refusal}")

        return Refused
