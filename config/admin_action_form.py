"""The admin's action form (the action <select> above every change list), rendered once per process."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from django import forms
from django.contrib.admin import helpers
from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import get_language

# --- The action form, rendered once ---------------------------------------------------------------------------
#
# Every change list with actions renders the same unbound action form (an action <select>, a hidden input, and
# for the approval queue a role <select> and a comment box) through the form renderer's templates. Its widgets
# remember what they rendered for a given template and context (plain values only), so each page after the
# first reuses the HTML.

class _Unfreezable(Exception):
    pass


def _frozen(value: Any) -> Hashable:
    """A hashable image of a widget context that tells apart everything the template could render differently
    (types too: 1, True and "1" render differently, and a SafeString is not escaped)."""
    if isinstance(value, Promise):
        value = str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return (type(value), value)
    if isinstance(value, dict):
        return ("dict", tuple((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_frozen(v) for v in value))
    raise _Unfreezable


class _RenderOnce(forms.Widget):
    """Widget base: the HTML of a (template, context, language, renderer) is made once per process; the context
    is still built each time, so a change in choices, value or attributes is a different entry."""

    _rendered: ClassVar[dict[Hashable, SafeString]] = {}
    _limit: ClassVar[int] = 256

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        try:
            key = (self.template_name, _frozen(self.get_context(name, value, attrs)), get_language(), renderer)
            html_ = self._rendered.get(key)
        except (_Unfreezable, TypeError):
            return super().render(name, value, attrs, renderer)
        if html_ is None:
            if len(self._rendered) >= self._limit:
                self._rendered.clear()
            html_ = self._rendered[key] = super().render(name, value, attrs, renderer)
        return html_


class _QuickSelect(_RenderOnce, forms.Select):
    pass


class _QuickHiddenInput(_RenderOnce, forms.HiddenInput):
    pass


class _QuickTextInput(_RenderOnce, forms.TextInput):
    pass


_QUICK_WIDGETS: dict[type[forms.Widget], type[forms.Widget]] = {
    forms.Select: _QuickSelect, forms.HiddenInput: _QuickHiddenInput, forms.TextInput: _QuickTextInput,
}


class QuickActionForm(helpers.ActionForm):
    """The admin's action form with widgets that render once (see `_RenderOnce`); other widgets as they are."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            quick = _QUICK_WIDGETS.get(type(field.widget))
            if quick is not None:
                widget = object.__new__(quick)
                widget.__dict__.update(field.widget.__dict__)
                field.widget = widget
