"""Turning an admin change page into the POST data its form would submit, so tests change only what they mean to."""

from __future__ import annotations

from typing import Any


def _value(bound_field: Any) -> Any:
    value = bound_field.value()
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    return value


def change_form_data(response: Any) -> dict[str, Any]:
    """The main form's and every inline formset's current values, management forms included."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = _value(form[name])
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for sub in formset.forms:
            for name in sub.fields:
                value = _value(sub[name])
                if value is not None:
                    data[sub.add_prefix(name)] = value
    return data
