"""Monitoring API: a version's production batches and their outcomes, each row's receipt, the evaluations of them
(the version's monitoring state over time), breaches, and the review that releases a hold."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import query_params
from config.errors import Conflict, NotFound, PermissionDenied
from config.ids import BIGINT
from governance import holds, rules
from governance.models import PromotionHold
from governance.roles import MODEL_VALIDATOR
from monitoring import batches, receipts, reporting
from monitoring.api import serializers as s
from monitoring.models import Batch, Evaluation, MonitoringReport
from monitoring.selectors import require_as_logged
from monitoring.services import plan_for
from registry.models import ModelVersion, RegisteredModel
from registry.rules import require_model_developer


def _version(pk: int) -> ModelVersion:
    version = ModelVersion.objects.select_related("model").filter(pk=pk).first() if pk <= BIGINT else None
    if version is None:
        raise NotFound(f"no model version #{pk}")
    return version


def _batch(pk: int) -> Batch:
    batch = Batch.objects.select_related("version", "version__model").filter(pk=pk).first() if pk <= BIGINT else None
    if batch is None:
        raise NotFound(f"no batch #{pk}")
    return batch


class VersionBatchesView(APIView):
    """GET: the version's batches, newest first. POST (multipart): a batch of its production inputs and outputs."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: s.BatchOut(many=True)})
    def get(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        version = _version(pk)
        return Response(s.BatchOut(Batch.objects.filter(version=version).order_by("-number"), many=True).data)

    @extend_schema(request=s.BatchIn, responses={201: s.BatchOut})
    def post(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        version = _version(pk)
        # Authorization before validation: a caller who may not act learns nothing from our checks.
        require_model_developer(request.user, version.model, doing="send its production batches")
        data = s.BatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        batch = batches.batch_ingest(version=version, by=request.user, **data.validated_data)
        return Response(s.BatchOut(batch).data, status=status.HTTP_201_CREATED)


class BatchViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.BatchOut
    lookup_value_regex = r"\d+"
    queryset = Batch.objects.order_by("-id")


class BatchOutcomesView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=s.OutcomesIn, responses={201: s.OutcomesOut})
    def post(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        batch = _batch(pk)
        require_model_developer(request.user, batch.version.model, doing="send outcomes of its production batches")
        data = s.OutcomesIn(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = batches.outcomes_attach(batch=batch, by=request.user, **data.validated_data)
        return Response(s.OutcomesOut(outcome).data, status=status.HTTP_201_CREATED)


class RowReceiptView(APIView):
    """A receipt for one decision: the row's line and leaf, its inclusion proof in the batch's tree, and the batch
    entry's inclusion proof against the latest checkpoint (check it offline: python -m audit.verifier --receipt)."""

    @extend_schema(responses={200: OpenApiResponse(description="modelgov row receipt v1")})
    def get(self, request: Request, pk: int, index: int) -> Response:
        query_params.require_only(request, self)
        return Response(receipts.receipt(batch=_batch(pk), index=index))


class VersionMonitoringView(APIView):
    """The version's monitoring state over time: each evaluation's colour, oldest first, its open breaches and
    holds, and the plan in force."""

    @extend_schema(responses={200: OpenApiResponse(description="state over time")})
    def get(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        version = _version(pk)
        evaluations = Evaluation.objects.filter(version=version).order_by("created_at", "id")
        for evaluation in evaluations:
            require_as_logged(evaluation)  # no colour changed behind the log's back is shown
        open_holds = PromotionHold.objects.filter(model_id=version.model_id, released_at__isnull=True)
        return Response({
            "version": version.pk,
            "stage": version.stage,
            "plan": plan_for(version),
            "state": evaluations.filter(status="succeeded").exclude(colour="").order_by("-created_at")
            .values_list("colour", flat=True).first() or "not measured",
            "evaluations": s.EvaluationRowOut(evaluations, many=True).data,
            "breaches": s.BreachOut(version.breaches.order_by("-created_at"), many=True).data,
            "holds": [{"id": h.pk, "reason": h.reason, "opened_at": h.opened_at} for h in open_holds],
        })


class ModelMonitoringView(APIView):
    """Each monitored version of a model with its state over time (its evaluations' colours, oldest first)."""

    @extend_schema(responses={200: OpenApiResponse(description="each monitored version's state over time")})
    def get(self, request: Request, name: str) -> Response:
        query_params.require_only(request, self)
        model = RegisteredModel.objects.filter(name=name).first()
        if model is None:
            raise NotFound(f"no model named {name[:100]!r}")
        versions = []
        for version in model.versions.filter(evaluations__isnull=False).distinct().order_by("-version"):
            evaluations = Evaluation.objects.filter(version=version).order_by("created_at", "id")
            for evaluation in evaluations:
                require_as_logged(evaluation)
            latest = evaluations.filter(status="succeeded").exclude(colour="").order_by("-created_at").first()
            versions.append({"version": version.pk, "number": version.version, "stage": version.stage,
                             "state": latest.colour if latest is not None else "not measured",
                             "evaluations": s.EvaluationRowOut(evaluations, many=True).data})
        return Response({"model": model.name, "versions": versions})


class EvaluationViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.EvaluationOut
    lookup_value_regex = r"\d+"
    queryset = Evaluation.objects.select_related("breach").order_by("-id")

    def get_object(self) -> Evaluation:
        evaluation: Evaluation = super().get_object()
        require_as_logged(evaluation)  # never serve results changed behind the log's back as what was measured
        return evaluation


class VersionReportsView(APIView):
    """POST: the version's monitoring report over a window (from, to: ISO 8601; default the 90 days to now), made by
    a worker; fetch it from /monitoring-reports/{id}/pdf/ and /json/ once it has succeeded."""

    @extend_schema(request=s.MonitoringReportIn, responses={201: s.MonitoringReportOut})
    def post(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        version = _version(pk)
        if not request.user.has_perm("reports.add_report"):
            raise PermissionDenied("you may not request reports", rule="reports.add_report")
        data = s.MonitoringReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        report = reporting.monitoring_report_request(version=version, by=request.user,
                                                     start=data.validated_data.get("from"),
                                                     end=data.validated_data.get("to"))
        report.refresh_from_db()
        return Response(s.MonitoringReportOut(report).data, status=status.HTTP_201_CREATED)


class MonitoringReportViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MonitoringReportOut
    lookup_value_regex = r"\d+"
    queryset = MonitoringReport.objects.order_by("-id")

    def _file(self, which: str) -> FileResponse:
        report: MonitoringReport = self.get_object()
        if report.status != "succeeded":
            raise Conflict(f"monitoring report #{report.pk} is {report.status}" +
                           (f": {report.error}" if report.error else ""))
        field = report.pdf if which == "pdf" else report.json
        response = FileResponse(field.open("rb"), as_attachment=True,
                                filename=f"monitoring-report-{report.pk}.{which}")
        response["X-Content-SHA256"] = report.pdf_sha256 if which == "pdf" else report.json_sha256
        return response

    @extend_schema(responses={200: OpenApiResponse(description="the PDF")})
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, pk: str) -> FileResponse:
        return self._file("pdf")

    @extend_schema(responses={200: OpenApiResponse(description="the JSON twin")})
    @action(detail=True, methods=["get"], url_path="json")
    def json_twin(self, request: Request, pk: str) -> FileResponse:
        return self._file("json")


class HoldReleaseView(APIView):
    @extend_schema(request=s.ReviewIn, responses={200: OpenApiResponse(description="the hold, released")})
    def post(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        if not rules.holds_role(request.user, MODEL_VALIDATOR):
            raise PermissionDenied(f"only a holder of the role {MODEL_VALIDATOR} reviews a monitoring breach",
                                   rule="role.required")
        hold = PromotionHold.objects.filter(pk=pk).first() if pk <= BIGINT else None
        if hold is None:
            raise NotFound(f"no hold #{pk}")
        data = s.ReviewIn(data=request.data)
        data.is_valid(raise_exception=True)
        hold = holds.hold_release(hold=hold, by=request.user, review=data.validated_data["review"])
        return Response({"id": hold.pk, "released_at": hold.released_at, "released_by": hold.released_by_id,
                         "review": hold.review})

