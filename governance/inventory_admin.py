"""The admin page "Inventory as of": the inventory at an instant, a page of models at a time, and one model's part,
both read by governance.inventory, as the API and the CLI read them; and the same as a PDF
(`admin:governance_inventory_pdf`, taking `as_of` and `model` from the query; empty or absent: the present, every
model)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from config.errors import DomainError, InvalidInput
from governance import inventory, inventory_pdf
from governance.api.inventory import pdf_response

# What <input type="datetime-local"> sends: a date and time without an offset, which this page says is UTC.
PICKED = "at"
PDF_PARAMS = ("as_of", "model")


def urls(site: admin.AdminSite) -> list[URLPattern]:
    def page(request: HttpRequest) -> HttpResponse:
        return inventory_page(site, request)

    def one(request: HttpRequest, name: str) -> HttpResponse:
        return model_page(site, request, name)

    return [
        path("inventory/", site.admin_view(page), name="governance_inventory"),
        path("inventory/<str:name>/", site.admin_view(one), name="governance_model_inventory"),
        path("inventory.pdf", site.admin_view(pdf_view), name="governance_inventory_pdf"),
    ]


def _as_of(request: HttpRequest) -> dt.datetime | None:
    """The instant asked for: the picker's date and time in UTC, else `as_of` as the API takes it (with its
    offset); neither, the present. Either way parse_as_of judges it."""
    picked = request.GET.get(PICKED, "").strip()
    if picked:
        return inventory.parse_as_of(f"{picked}Z")
    text = request.GET.get("as_of")
    return inventory.parse_as_of(text) if text is not None else None


def _picker_value(as_of: dt.datetime | None) -> str:
    # The year in four digits, as the picker and parse_as_of read it (strftime writes the year 1 as "1").
    return inventory.format_instant(as_of)[:19] if as_of is not None else ""


def _context(site: admin.AdminSite, request: HttpRequest, title: str) -> dict[str, Any]:
    return {**site.each_context(request), "title": title, "picked_name": PICKED, "picked": "", "error": None,
            "doc": None}


def inventory_page(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    """Every model registered at the instant, a page at a time, with the head, checkpoint, policies and roles."""
    context = _context(site, request, "Inventory as of")
    try:
        as_of = _as_of(request)
        context["picked"] = _picker_value(as_of)
        doc = inventory.inventory(as_of=as_of, after=inventory.parse_number("after", request.GET.get("after")))
    except DomainError as exc:
        context["error"] = exc.message
    else:
        context.update(doc=doc, models=doc["models"], title=_title(doc), **_links(doc, reverse("inventory"), None))
        if doc["next"] is not None:
            context["next_url"] = "?" + urlencode({**_query(doc), "after": doc["next"]})
    return TemplateResponse(request, "admin/governance/inventory.html", context)


def model_page(site: admin.AdminSite, request: HttpRequest, name: str) -> HttpResponse:
    """One model's part of the inventory at the instant, by the name it had then."""
    context = _context(site, request, f"Inventory as of: {name}")
    context["model_name"] = name
    status = 200
    try:
        as_of = _as_of(request)
        context["picked"] = _picker_value(as_of)
        doc = inventory.model_inventory(name, as_of=as_of)
    except DomainError as exc:
        context["error"] = exc.message
        status = 200 if isinstance(exc, InvalidInput) else exc.status_code
    else:
        context.update(doc=doc, models=[doc["model"]], title=f"{name}: {_title(doc)}",
                       **_links(doc, reverse("model-inventory", args=[name]), name))
    return TemplateResponse(request, "admin/governance/inventory.html", context, status=status)


def _title(doc: dict[str, Any]) -> str:
    return f"Inventory as of {doc['as_of']}" if doc["as_of"] else "Inventory as of now"


def _query(doc: dict[str, Any]) -> dict[str, str]:
    return {"as_of": doc["as_of"]} if doc["as_of"] else {}


def _links(doc: dict[str, Any], api_path: str, model: str | None) -> dict[str, str]:
    """The same instant elsewhere: each model's own page, the whole inventory's, the API's document and the
    PDF (of the same model, if one)."""
    query = f"?{urlencode(_query(doc))}" if doc["as_of"] else ""
    pdf_query = urlencode({**_query(doc), **({"model": model} if model is not None else {})})
    return {"query": query, "api_url": api_path + query,
            "pdf_url": reverse("admin:governance_inventory_pdf") + (f"?{pdf_query}" if pdf_query else "")}


def pdf_view(request: HttpRequest) -> HttpResponse:
    """The PDF; a question it cannot answer goes back to the page that asked, with the reason as a message."""
    try:
        unknown = sorted(name for name in request.GET if name not in PDF_PARAMS)
        if unknown:
            raise InvalidInput(f"unknown parameter(s) {', '.join(unknown)}: the inventory PDF takes as_of and model")
        text, model = request.GET.get("as_of", "").strip(), request.GET.get("model", "").strip() or None
        as_of = inventory.parse_as_of(text) if text else None
        return pdf_response(inventory_pdf.render(as_of, model), as_of, model)
    except DomainError as exc:
        messages.error(request, f"No inventory PDF: {exc.message}")
        return HttpResponseRedirect(_back(request))


def _back(request: HttpRequest) -> Any:
    referer = request.headers.get("referer", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return referer
    return reverse("admin:index")
