"""Reports API: request a report, poll its status and progress, download the PDF, read the JSON."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import Conflict, NotFound, PermissionDenied
from config.strict_input import IdField
from governance.evidence import report_config
from registry.models import DatasetVersion, ModelVersion
from reports import services
from reports.models import Report, ReportKind, ReportStatus


class ReportOut(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version_number = serializers.IntegerField(source="version.version")

    class Meta:
        model = Report
        fields = ["id", "version", "model", "version_number", "kind", "status", "progress", "error",
                  "evaluation_dataset", "verdict", "pdf_sha256", "json_sha256", "config_sha256", "inputs",
                  "attempts", "created_at", "started_at", "finished_at"]


class ReportIn(serializers.Serializer):
    version = IdField(queryset=ModelVersion.objects.select_related("model"))
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    evaluation_dataset = IdField(queryset=DatasetVersion.objects.all(), required=False)


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReportOut
    lookup_value_regex = r"\d+"
    filterset_fields = ["version", "kind", "status", "verdict"]

    def get_queryset(self) -> Any:
        return Report.objects.select_related("version", "version__model").order_by("-id")

    @extend_schema(request=ReportIn, responses={202: ReportOut})
    def create(self, request: Request) -> Response:
        if not request.user.has_perm("reports.add_report"):
            raise PermissionDenied("you may not request reports", rule="reports.add_report")
        data = ReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        version = data.validated_data["version"]
        report = services.report_request(
            version=version, kind=data.validated_data["kind"], by=request.user,
            evaluation_dataset=data.validated_data.get("evaluation_dataset"),
            config=report_config(version, data.validated_data["kind"]),
        )
        dispatch = getattr(report, "dispatch", "sent")
        report.refresh_from_db()
        return Response({**ReportOut(report).data, "dispatch": dispatch}, status=status.HTTP_202_ACCEPTED)

    def _file(self, report: Report, which: str) -> FileResponse:
        if report.status != ReportStatus.SUCCEEDED:
            raise Conflict(f"the report is {report.status}; nothing to download yet", rule="report.not_ready")
        field, digest = (report.pdf, report.pdf_sha256) if which == "pdf" else (report.json, report.json_sha256)
        if not field or not field.name or not field.storage.exists(field.name):
            raise NotFound(f"the report's {which} file is missing from storage; request the report again")
        response = FileResponse(field.open("rb"), content_type="application/pdf" if which == "pdf" else
                                "application/json", filename=f"report-{report.pk}.{which}")
        response["X-Content-SHA256"] = digest
        return response

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="the PDF")})
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, pk: str) -> FileResponse:
        return self._file(self.get_object(), "pdf")

    @extend_schema(responses={(200, "application/json"): OpenApiResponse(description="the metrics JSON")})
    @action(detail=True, methods=["get"], url_path="json")
    def json_twin(self, request: Request, pk: str) -> FileResponse:
        return self._file(self.get_object(), "json")
