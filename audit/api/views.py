"""Audit API: read-only entries (cursor-paginated, filtered), one object's history, last verification."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEntry, VerificationRun


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


class EntryFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_name")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith")

    class Meta:
        model = AuditEntry
        fields = ["object_type", "object_id", "action", "channel", "request_id"]


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EntryOut
    pagination_class = SeqCursor
    filterset_class = EntryFilter
    lookup_field = "seq"
    lookup_value_regex = r"\d+"
    queryset = AuditEntry.objects.only("seq", "canonical", "hash")

    @extend_schema(responses=EntryOut(many=True))
    @action(detail=False, methods=["get"], url_path=r"history/(?P<object_type>[a-z_]+\.[a-z_]+)/(?P<object_id>[^/]+)")
    def history(self, request: Request, object_type: str, object_id: str) -> Response:
        qs = self.get_queryset().filter(object_type=object_type, object_id=object_id)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EntryOut(page, many=True).data)


class VerificationViewSet(viewsets.GenericViewSet):
    serializer_class = VerificationOut
    queryset = VerificationRun.objects.all()

    @extend_schema(responses=VerificationOut)
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        run = VerificationRun.objects.order_by("-id").first()
        if run is None:
            return Response({"detail": "the log has not been verified yet"}, status=404)
        return Response(VerificationOut(run).data)
