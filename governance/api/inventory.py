"""The inventory as of an instant over the API: `GET /api/v1/inventory/?as_of=T` (a page of models),
`GET /api/v1/inventory/{name}/?as_of=T` (one model) and `GET /api/v1/inventory.pdf?as_of=T[&model=NAME]` (the
whole document as a PDF). Without `as_of`, the present, by the same code."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import query_params
from config.errors import InvalidInput
from governance import inventory, inventory_pdf

AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATETIME, description=(
    "The instant, ISO 8601 with its UTC offset (e.g. 2026-03-31T23:59:59Z): the state after the last entry "
    "recorded at or before it. Omitted: the present."))
AFTER = OpenApiParameter("after", OpenApiTypes.INT,
                         description="The `next` of the previous page: models after this id.")
MODEL = OpenApiParameter("model", OpenApiTypes.STR,
                         description="Only this model, by the name it had at the instant. Omitted: every model.")
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT,
                         description=f"Models per page, 1 to {inventory.MAX_PAGE} (default {inventory.PAGE}).")


def _as_of(request: Request) -> dt.datetime | None:
    text = request.query_params.get("as_of")
    return inventory.parse_as_of(text) if text is not None else None


def _number(request: Request, name: str) -> int | None:
    return inventory.parse_number(name, request.query_params.get(name))


class InventoryView(APIView):
    """Every registered model as of an instant, a page at a time, with the log's head then, the policies in
    force, who held each role, and for each version in production its promotion entry's inclusion proof
    against the latest checkpoint."""

    @extend_schema(operation_id="inventory_list", parameters=[AS_OF, AFTER, LIMIT],
                   responses={200: OpenApiResponse(description="a page of the inventory (docs/inventory.md)")})
    def get(self, request: Request) -> Response:
        query_params.require_only(request, self, "as_of", "after", "limit")
        limit = _number(request, "limit")
        return Response(inventory.inventory(as_of=_as_of(request), after=_number(request, "after"),
                                            limit=inventory.PAGE if limit is None else limit))


class ModelInventoryView(APIView):
    """One model's part of the inventory as of an instant, by the name it had then."""

    @extend_schema(operation_id="inventory_model", parameters=[AS_OF],
                   responses={200: OpenApiResponse(description="one model as of the instant (docs/inventory.md)")})
    def get(self, request: Request, name: str) -> Response:
        query_params.require_only(request, self, "as_of")
        return Response(inventory.model_inventory(name, as_of=_as_of(request)))


class InventoryPdfView(APIView):
    """The inventory as of an instant as a deterministic PDF, stamped with the SHA-256 of the inventory JSON it
    shows; the file's own SHA-256 in `X-Content-SHA256`, as a report's PDF (docs/inventory.md, "PDF")."""

    @extend_schema(operation_id="inventory_pdf", parameters=[AS_OF, MODEL],
                   responses={(200, "application/pdf"): OpenApiResponse(description="the PDF")})
    def get(self, request: Request) -> HttpResponse:
        query_params.require_only(request, self, "as_of", "model")
        as_of, model = _as_of(request), request.query_params.get("model")
        if model is not None and not model.strip():
            raise InvalidInput("model is empty: give a model's name, or leave model out for every model")
        return pdf_response(inventory_pdf.render(as_of, model), as_of, model)


def pdf_response(pdf: bytes, as_of: dt.datetime | None, model: str | None) -> HttpResponse:
    """The PDF as a download named for what it shows (the API and the admin)."""
    when = as_of.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ") if as_of is not None else "present"
    # A model's name is a slug: safe in a file name.
    name = f"inventory-{when}" + (f"-{model}" if model is not None else "") + ".pdf"
    response = HttpResponse(pdf, content_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response["X-Content-SHA256"] = hashlib.sha256(pdf).hexdigest()
    return response
