"""Audit API: read-only entries (cursor-paginated, filtered), one object's history, last verification."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from audit import proofs
from audit.models import AuditEntry, Checkpoint, SigningKey, VerificationRun, entry_json
from config import query_params
from config.errors import InvalidInput
from config.filters import SafeIsoDateTimeFilter
from config.ids import BIGINT, ascii_digits
from config.paging import rows_response


class EntryOut(serializers.Serializer):
    v = serializers.IntegerField()
    seq = serializers.IntegerField()
    ts = serializers.CharField()
    actor = serializers.DictField()
    action = serializers.CharField()
    object = serializers.DictField()
    changes = serializers.DictField()
    context = serializers.DictField()  # type: ignore[assignment]
    prev = serializers.CharField()
    hash = serializers.CharField()

    def to_representation(self, instance: AuditEntry) -> dict[str, Any]:
        return instance.as_json()


_ENTRY_COLUMNS = ("seq", "canonical", "hash")


def _entry_json(row: dict[str, Any]) -> dict[str, Any]:
    """AuditEntry.as_json() of a row of _ENTRY_COLUMNS."""
    return entry_json(row["canonical"], row["hash"])


class VerificationOut(serializers.ModelSerializer):
    class Meta:
        model = VerificationRun
        fields = ["id", "started_at", "finished_at", "ok", "entries_checked", "last_seq", "checkpoints_checked",
                  "failed_seq", "rule", "message"]


class SeqCursor(CursorPagination):
    ordering = "-seq"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        # DRF checks the cursor's offset but hands its position to the query as it is: "p=abc", forged,
        # would reach the database as a seq.
        cursor = super().decode_cursor(request)
        position = None if cursor is None or cursor.position is None else str(cursor.position)
        if position is not None and (not ascii_digits(position) or int(position) > BIGINT):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _first_seq_at(ts: Any) -> Subquery:
    return Subquery(AuditEntry.objects.filter(ts__gte=ts).order_by("ts", "seq").values("seq")[:1])


class EntryFilter(django_filters.FilterSet):
    """Dates are also turned into a range of seq: the chain's timestamps never go backwards, so the
    newest-first page reads the window from the primary key instead of scanning down to it."""

    since = SafeIsoDateTimeFilter(method="filter_since")
    until = SafeIsoDateTimeFilter(method="filter_until")
    actor = django_filters.CharFilter(field_name="actor_name")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith")

    class Meta:
        model = AuditEntry
        fields = ["object_type", "object_id", "action", "channel", "request_id"]

    def filter_since(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset.filter(ts__gte=value, seq__gte=_first_seq_at(value))

    def filter_until(self, queryset: Any, name: str, value: Any) -> Any:
        # No entry at or after `until`: every entry is before it.
        return queryset.filter(ts__lt=value, seq__lt=Coalesce(_first_seq_at(value), Value(2**62)))


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EntryOut
    pagination_class = SeqCursor
    filterset_class = EntryFilter
    lookup_field = "seq"
    lookup_value_regex = r"\d+"
    queryset = AuditEntry.objects.only("seq", "canonical", "hash")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._entries(self.filter_queryset(self.get_queryset()))

    @extend_schema(responses=EntryOut(many=True))
    @action(detail=False, methods=["get"], url_path=r"history/(?P<object_type>[a-z_]+\.[a-z_]+)/(?P<object_id>[^/]+)")
    def history(self, request: Request, object_type: str, object_id: str) -> Response:
        query_params.require_only(request, self, paging=True)  # the list's filters do not apply here
        return self._entries(self.get_queryset().filter(object_type=object_type, object_id=object_id))

    def _entries(self, queryset: Any) -> Response:
        """A page of entries as EntryOut writes them (AuditEntry.as_json), read as plain rows: the cursor takes
        its position from a row's seq as from a model's."""
        return rows_response(self, queryset, lambda qs: qs.values(*_ENTRY_COLUMNS),
                             lambda rows: [_entry_json(row) for row in rows])


    @extend_schema(responses={200: OpenApiResponse(description="the entry with its inclusion proof")})
    @action(detail=True, methods=["get"])
    def proof(self, request: Request, seq: str) -> Response:
        entry = self.get_object()
        return Response({"entry": entry.as_json(), "inclusion": proofs.inclusion(seq=entry.seq)})


class VerificationViewSet(viewsets.GenericViewSet):
    serializer_class = VerificationOut
    queryset = VerificationRun.objects.all()

    @extend_schema(responses=VerificationOut)
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        query_params.require_only(request, self)
        run = VerificationRun.objects.order_by("-id").first()
        if run is None:
            return Response({"detail": "the log has not been verified yet"}, status=404)
        return Response(VerificationOut(run).data)


class CheckpointOut(serializers.Serializer):
    v = serializers.IntegerField()
    log = serializers.CharField()
    size = serializers.IntegerField()
    root = serializers.CharField()  # type: ignore[assignment]
    head = serializers.CharField()
    ts = serializers.CharField()
    key = serializers.CharField()
    sig = serializers.CharField()

    def to_representation(self, instance: Checkpoint) -> dict[str, Any]:
        return instance.as_json()


class SizeQuery(serializers.Serializer):
    seq = serializers.IntegerField(min_value=1, required=False)
    size = serializers.IntegerField(min_value=0, required=False)
    old_size = serializers.IntegerField(min_value=1, required=False)


class CheckpointViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = CheckpointOut
    pagination_class = SeqCursor

    def get_queryset(self) -> Any:
        return Checkpoint.objects.all()

    def paginate_queryset(self, queryset: Any) -> Any:
        self.paginator.ordering = "-size"  # type: ignore[union-attr]
        return super().paginate_queryset(queryset)

    @extend_schema(responses=CheckpointOut)
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        query_params.require_only(request, self)
        cp = Checkpoint.objects.order_by("-size").first()
        if cp is None:
            return Response({"detail": "no checkpoint has been made yet"}, status=404)
        return Response(CheckpointOut(cp).data)

    @extend_schema(responses={200: OpenApiResponse(description="public keys by key id (PEM)")})
    @action(detail=False, methods=["get"])
    def keys(self, request: Request) -> Response:
        query_params.require_only(request, self)
        return Response({k.key_id: k.public_pem for k in SigningKey.objects.order_by("first_used")})

    @extend_schema(parameters=[SizeQuery], responses={200: OpenApiResponse(description="RFC 6962 inclusion proof")})
    @action(detail=False, methods=["get"])
    def inclusion(self, request: Request) -> Response:
        query_params.require_only(request, self, "seq", "size")
        query = SizeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "seq" not in query.validated_data:
            raise InvalidInput("seq is required")
        return Response(proofs.inclusion(seq=query.validated_data["seq"], size=query.validated_data.get("size")))

    @extend_schema(parameters=[SizeQuery], responses={200: OpenApiResponse(description="RFC 6962 consistency proof")})
    @action(detail=False, methods=["get"])
    def consistency(self, request: Request) -> Response:
        query_params.require_only(request, self, "old_size", "size")
        query = SizeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "old_size" not in query.validated_data:
            raise InvalidInput("old_size is required")
        return Response(proofs.consistency(old_size=query.validated_data["old_size"],
                                           size=query.validated_data.get("size")))


class ExportView(viewsets.ViewSet):
    """The export bundle (spec section 5) as a .tar.gz, for clients that cannot run manage.py."""

    @extend_schema(parameters=[SizeQuery], responses={(200, "application/gzip"): OpenApiResponse(
        description="entries.jsonl, checkpoints.jsonl and keys/ in a tar.gz")})
    def list(self, request: Request) -> Any:
        import shutil
        import tarfile
        import tempfile
        from pathlib import Path

        from django.http import FileResponse

        from audit.export import export_bundle

        def _int(name: str) -> int | None:
            value = request.query_params.get(name)
            if value in (None, ""):
                return None
            if not ascii_digits(value) or int(value) > BIGINT:
                raise InvalidInput(f"{name} must be a positive integer")
            return int(value)

        if not request.user.has_perm("audit.view_auditentry"):
            from config.errors import PermissionDenied

            raise PermissionDenied("you may not export the audit log", rule="audit.view_auditentry")
        query_params.require_only(request, self, "from", "to")
        from_seq, to_seq = _int("from"), _int("to")
        tmp = Path(tempfile.mkdtemp(prefix="modelgov-export-"))
        try:
            export_bundle(tmp / "bundle", from_seq=from_seq, to_seq=to_seq)
            archive = tmp / "bundle.tar.gz"
            with tarfile.open(archive, "w:gz") as tf:
                tf.add(tmp / "bundle", arcname=".")
            handle = archive.open("rb")
        finally:
            shutil.rmtree(tmp)  # an open handle keeps the archive readable until the response is sent
        return FileResponse(handle, as_attachment=True, filename="audit-bundle.tar.gz",
                            content_type="application/gzip")
