"""Filters for registry list endpoints."""

from __future__ import annotations

import json
from typing import Any

import django_filters
from django.db import connection

from config.filters import SafeIsoDateTimeFilter
from registry.models import DatasetVersion, ModelVersion, RegisteredModel


class ModelFilter(django_filters.FilterSet):
    tag = django_filters.CharFilter(method="filter_tag")
    owner = django_filters.CharFilter(field_name="owner__username")
    q = django_filters.CharFilter(method="filter_q")

    class Meta:
        model = RegisteredModel
        fields = ["risk_tier", "eu_ai_act_category", "business_unit"]

    def filter_tag(self, queryset: Any, name: str, value: str) -> Any:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment: match the quoted element in the stored JSON text.
        return queryset.filter(tags__icontains=json.dumps(value))

    def filter_q(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(name__icontains=value) | queryset.filter(title__icontains=value)


class VersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    created_by = django_filters.CharFilter(field_name="created_by__username")
    created_after = SafeIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = SafeIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    risk_tier = django_filters.CharFilter(field_name="model__risk_tier")

    class Meta:
        model = ModelVersion
        fields = ["stage", "framework", "artifact_format", "artifact_sha256"]


class DatasetVersionFilter(django_filters.FilterSet):
    dataset = django_filters.CharFilter(field_name="dataset__name")

    class Meta:
        model = DatasetVersion
        fields = ["sha256"]
