"""Registry API: models, versions (multipart upload), datasets, dataset versions, lineage."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound
from config.json_input import JSONParser
from config.paging import EstimatedCountPagination, rows_response
from registry import selectors
from registry.api import fast, filters
from registry.api import serializers as s
from registry.models import Dataset, ModelVersion, RegisteredModel
from registry.rules import require_model_developer
from registry.services import dataset as dataset_services
from registry.services import model as model_services
from registry.services import version as version_services
from registry.services.common import require_perm


class ModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    pagination_class = EstimatedCountPagination
    lookup_field = "name"
    serializer_class = s.ModelOut
    filterset_class = filters.ModelFilter

    def get_queryset(self) -> Any:
        if self.action == "versions" and getattr(self.request, "method", None) == "GET":
            # Listing a model's versions needs only its id: not its owner and developers.
            return RegisteredModel.objects.order_by("name")
        return selectors.model_list().order_by("name")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # ModelOut's output from plain rows (registry.api.fast): no model instance per row.
        return rows_response(self, self.filter_queryset(self.get_queryset()), fast.model_rows, fast.models_out)

    @extend_schema(request=s.ModelIn, responses={201: s.ModelOut})
    def create(self, request: Request) -> Response:
        # Authorization before validation: a caller who may not act learns nothing from our checks.
        require_perm(request.user, "registry.add_registeredmodel", doing="register a model")
        data = s.ModelIn(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_services.registered_model_create(by=request.user, **data.validated_data)
        return Response(s.ModelOut(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ModelEdit, responses={200: s.ModelOut})
    def partial_update(self, request: Request, name: str) -> Response:
        model = self.get_object()
        if model.owner_id != request.user.pk:
            require_perm(request.user, "registry.change_registeredmodel", doing=f"edit model {model.name}")
        data = s.ModelEdit(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = model_services.registered_model_edit(model=model, by=request.user, **data.validated_data)
        return Response(s.ModelOut(model).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, name: str) -> Response:
        model_services.registered_model_delete(model=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.VersionIn, responses={201: s.VersionOut, 200: s.VersionOut(many=True)})
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser])
    def versions(self, request: Request, name: str) -> Response:
        model = self.get_object()
        if request.method == "GET":
            return _version_page(self, selectors.version_list().filter(model=model).order_by("-version"))
        require_model_developer(request.user, model, doing="register versions")
        data = s.VersionIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = version_services.model_version_create(model=model, by=request.user, **fields)
        version = selectors.version_list().get(pk=version.pk)
        return Response(s.VersionOut(version).data, status=status.HTTP_201_CREATED)


def _version_page(view: Any, queryset: Any) -> Response:
    """VersionOut's output of a page of `queryset`, from plain rows (registry.api.fast)."""
    return rows_response(view, queryset, fast.version_rows, fast.versions_out)


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = EstimatedCountPagination
    serializer_class = s.VersionOut
    lookup_value_regex = r"\d+"
    filterset_class = filters.VersionFilter
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self) -> Any:
        return selectors.version_list().order_by("-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _version_page(self, self.filter_queryset(self.get_queryset()))

    @extend_schema(request=s.VersionEdit, responses={200: s.VersionOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        require_model_developer(request.user, version.model, doing="edit its versions")
        data = s.VersionEdit(data=request.data)
        data.is_valid(raise_exception=True)
        version_services.model_version_update(version=version, by=request.user, **data.validated_data)
        return Response(s.VersionOut(selectors.version_list().get(pk=version.pk)).data)

    @extend_schema(responses={200: OpenApiResponse(description="lineage both ways")})
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, pk: str) -> Response:
        return Response(selectors.version_lineage(self.get_object()))

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="the artifact file")})
    @action(detail=True, methods=["get"])
    def artifact(self, request: Request, pk: str) -> FileResponse:
        version: ModelVersion = self.get_object()
        artifact = version.artifact
        if not artifact or not artifact.name or not artifact.storage.exists(artifact.name):
            # Stored write-once and never deleted by modelgov: gone means the store lost it. The digest in
            # the version's audit entry is what a restored copy must match.
            raise NotFound(f"the artifact of {version} is missing from storage; restore it from a backup "
                           f"(its SHA-256 is {version.artifact_sha256})")
        response = FileResponse(artifact.open("rb"), as_attachment=True,
                                filename=(version.artifact.name or "artifact").rsplit("/", 1)[-1])
        response["X-Artifact-SHA256"] = version.artifact_sha256
        return response


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = EstimatedCountPagination
    lookup_field = "name"
    serializer_class = s.DatasetOut

    def get_queryset(self) -> Any:
        return selectors.dataset_list().order_by("name")

    @extend_schema(request=s.DatasetIn, responses={201: s.DatasetOut})
    def create(self, request: Request) -> Response:
        require_perm(request.user, "registry.add_dataset", doing="register a dataset")
        data = s.DatasetIn(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_services.dataset_create(by=request.user, **data.validated_data)
        return Response(s.DatasetOut(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.DatasetVersionIn, responses={201: s.DatasetVersionOut, 200: s.DatasetVersionListOut(many=True)}
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def versions(self, request: Request, name: str) -> Response:
        dataset: Dataset = self.get_object()
        if request.method == "GET":
            qs = selectors.dataset_version_list().defer("schema").filter(dataset=dataset).order_by("-version")
            page = self.paginate_queryset(qs)
            return self.get_paginated_response(s.DatasetVersionListOut(page, many=True).data)
        require_perm(request.user, "registry.add_datasetversion", doing="register a dataset version")
        data = s.DatasetVersionIn(data=request.data)
        data.is_valid(raise_exception=True)
        version = dataset_services.dataset_version_create(dataset=dataset, by=request.user, **data.validated_data)
        version = selectors.dataset_version_list().get(pk=version.pk)
        return Response(s.DatasetVersionOut(version).data, status=status.HTTP_201_CREATED)


class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = EstimatedCountPagination
    serializer_class = s.DatasetVersionOut
    lookup_value_regex = r"\d+"
    filterset_class = filters.DatasetVersionFilter

    def get_queryset(self) -> Any:
        qs = selectors.dataset_version_list().order_by("-id")
        return qs.defer("schema") if self.action == "list" else qs

    def get_serializer_class(self) -> Any:
        return s.DatasetVersionListOut if self.action == "list" else s.DatasetVersionOut

    @extend_schema(request=s.DatasetVersionEdit, responses={200: s.DatasetVersionOut})
    def partial_update(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        require_perm(request.user, "registry.change_datasetversion", doing="edit a dataset version")
        data = s.DatasetVersionEdit(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        dataset_services.dataset_version_update(version=version, by=request.user, **data.validated_data)
        return Response(s.DatasetVersionOut(selectors.dataset_version_list().get(pk=version.pk)).data)

    @extend_schema(responses={200: OpenApiResponse(description="models trained or evaluated on it")})
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, pk: str) -> Response:
        return Response(selectors.dataset_lineage(self.get_object()))


__all__ = ["DatasetVersionViewSet", "DatasetViewSet", "ModelViewSet", "RegisteredModel", "VersionViewSet"]
