"""Governance API: promotion requests and decisions, the queue awaiting me, policies, API tokens, service
accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import query_params
from config.errors import InvalidInput, NotFound, PermissionDenied
from config.ids import BIGINT
from config.paging import EstimatedCountPagination, rows_response
from governance import accounts, evidence, rules, selectors, services, tokens
from governance.api import fast
from governance.api import serializers as s
from governance.models import ApiToken, Policy, PromotionRequest, ServiceAccount
from registry.models import ModelVersion


class RequestFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="version__model__name")
    awaiting = django_filters.CharFilter(method="filter_awaiting", help_text="'me': requests I may decide now")

    class Meta:
        model = PromotionRequest
        fields = ["status", "target_stage", "version", "is_revalidation"]

    def filter_awaiting(self, queryset: Any, name: str, value: str) -> Any:
        if value != "me":
            return queryset
        return selectors.awaiting_filter(queryset, self.request.user)


class PromotionRequestViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    pagination_class = EstimatedCountPagination
    serializer_class = s.RequestOut
    lookup_value_regex = r"\d+"
    filterset_class = RequestFilter

    def get_queryset(self) -> Any:
        return selectors.request_list().order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._page(self.filter_queryset(self.get_queryset()))

    def _page(self, queryset: Any) -> Response:
        """RequestOut's output of a page of `queryset`, from plain rows (governance.api.fast)."""
        return rows_response(self, queryset, fast.request_rows, fast.requests_out)

    def _detail(self, request_obj: PromotionRequest, *, loaded: bool = False) -> Response:
        """The request as RequestDetailOut; reloaded after a change unless it was `loaded` by request_list()."""
        if not loaded:
            request_obj = selectors.request_list().get(pk=request_obj.pk)
        data = s.RequestOut(request_obj).data
        data.update(selectors.request_detail(request_obj, self.request.user))
        return Response(data)

    @extend_schema(responses=s.RequestDetailOut)
    def retrieve(self, request: Request, pk: str) -> Response:
        # get_object() reads through get_queryset(): request_list(), as _detail would reload it.
        return self._detail(self.get_object(), loaded=True)

    @extend_schema(request=s.RequestIn, responses={201: s.RequestDetailOut})
    def create(self, request: Request) -> Response:
        if not request.user.has_perm("governance.add_promotionrequest"):
            raise PermissionDenied("only model developers may request promotions", rule="request.developer")
        data = s.RequestIn(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.promotion_request_create(by=request.user, **data.validated_data)
        response = self._detail(created)
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(responses=s.RequestOut(many=True))
    @action(detail=False, methods=["get"], url_path="awaiting-me")
    def awaiting_me(self, request: Request) -> Response:
        query_params.require_only(request, self, paging=True)  # the list's filters do not apply here
        # Counted on the table of open slots alone (the same requests, held equal by the property test): counting
        # through the requests read each pending one's row.
        queue, ids = selectors.awaiting_counted(request.user)
        return rows_response(self, queue, fast.request_rows, fast.requests_out, count_of=ids)

    @extend_schema(request=s.DecisionIn, responses=s.RequestDetailOut)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        data = s.DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.approval_record(request=self.get_object(), by=request.user, decision="approve",
                                        **data.validated_data)
        return self._detail(done)

    @extend_schema(request=s.RejectIn, responses=s.RequestDetailOut)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        data = s.RejectIn(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.approval_record(request=self.get_object(), by=request.user, decision="reject",
                                        **data.validated_data)
        return self._detail(done)

    @extend_schema(request=None, responses=s.RequestDetailOut)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        return self._detail(services.promotion_request_withdraw(request=self.get_object(), by=request.user))


class VersionMetricsView(APIView):
    """A version's declared metrics beside the measured ones (GET /api/v1/versions/{id}/metrics/).

    Served by governance, not the registry, because what counts as measured is the gates' rule: the
    latest performance report that is fresh for the policy in force (its production rule for the tier)."""

    @extend_schema(responses={200: s.MetricClaimsOut})
    def get(self, request: Request, pk: int) -> Response:
        query_params.require_only(request, self)
        # An id beyond a 64-bit key names no version (SQLite's driver would overflow on it).
        version = ModelVersion.objects.select_related("model").filter(pk=pk).first() if pk <= BIGINT else None
        if version is None:
            raise NotFound(f"no model version #{pk}")
        return Response({"version": version.pk, **selectors.metric_claims(version, evidence.production_rule(version))})


class PolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.PolicyOut
    lookup_value_regex = r"\d+"
    queryset = Policy.objects.select_related("updated_by").order_by("name")

    @extend_schema(request=s.PolicyIn, responses={201: s.PolicyOut})
    def create(self, request: Request) -> Response:
        rules.require_policy_admin(request.user)
        data = s.PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        policy = services.policy_create(by=request.user, name=v["name"], description=v.get("description", ""),
                                        rules_=v.get("rules"), activate=v["activate"])
        return Response(s.PolicyOut(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PolicyEdit, responses=s.PolicyOut)
    def partial_update(self, request: Request, pk: str) -> Response:
        rules.require_policy_admin(request.user)
        data = s.PolicyEdit(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_update(policy=self.get_object(), by=request.user,
                                        rules_=data.validated_data.get("rules"),
                                        description=data.validated_data.get("description"))
        return Response(s.PolicyOut(policy).data)

    @extend_schema(request=None, responses=s.PolicyOut)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        return Response(s.PolicyOut(services.policy_activate(policy=self.get_object(), by=request.user)).data)


def _request_token(request: Request) -> ApiToken | None:
    """The token the request was authenticated with (None: a session signed in with a password)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


def _token_created(request: Request, user: Any) -> Response:
    """Validate a TokenIn body and make the token for `user` by the signed-in caller (token_create's rules
    decide who may), answering 201 with its key, shown once."""
    data = s.TokenIn(data=request.data)
    data.is_valid(raise_exception=True)
    token, key = tokens.token_create(user=user, by=request.user, by_token=_request_token(request),
                                     name=data.validated_data["name"],
                                     lifetime=dt.timedelta(days=data.validated_data["lifetime_days"]))
    body = dict(s.TokenOut(token).data)
    body["key"] = key
    return Response(body, status=status.HTTP_201_CREATED)


class TokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TokenOut
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        return ApiToken.objects.filter(user_id=int(self.request.user.pk or 0)).order_by("-created_at")

    @extend_schema(request=s.TokenIn, responses={201: s.TokenCreatedOut},
                   description="Only from a session signed in with a password: a token cannot create tokens.")
    def create(self, request: Request) -> Response:
        return _token_created(request, request.user)

    @extend_schema(request=None, responses=s.TokenOut)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        token = ApiToken.objects.filter(pk=pk).first()
        if token is None or not rules.may_revoke_token(request.user, token):
            raise NotFound("no such token")
        return Response(s.TokenOut(tokens.token_revoke(token=token, by=request.user)).data)


class ServiceAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Service accounts for CI pipelines: every one for governance admins, one's own for their owners."""

    serializer_class = s.ServiceAccountOut
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        listed = ServiceAccount.objects.select_related("user", "owner", "created_by").prefetch_related(
            "user__groups__role").order_by("user__username")
        if rules.is_account_admin(self.request.user):
            return listed
        return listed.filter(owner_id=int(self.request.user.pk or 0))

    @extend_schema(request=s.ServiceAccountIn, responses={201: s.ServiceAccountOut})
    def create(self, request: Request) -> Response:
        if not rules.is_account_admin(request.user):
            raise PermissionDenied("only a governance admin creates service accounts", rule="service_account.admin")
        data = s.ServiceAccountIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        owner = get_user_model()._default_manager.filter(username=v["owner"]).first()
        if owner is None:
            raise InvalidInput(f"no account {v['owner']!r} to own the service account")
        created = accounts.service_account_create(by=request.user, owner=owner, username=v["username"],
                                                  purpose=v["purpose"], roles=v["roles"])
        return Response(s.ServiceAccountOut(self.get_queryset().get(pk=created.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ServiceAccountOut)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        account = accounts.service_account_disable(account=self.get_object(), by=request.user)
        return Response(s.ServiceAccountOut(self.get_queryset().get(pk=account.pk)).data)

    @extend_schema(request=s.TokenIn, responses={201: s.TokenCreatedOut},
                   description="A token for the service account, made by its owner (never a governance admin) signed "
                               "in with a password (never with a token).")
    @action(detail=True, methods=["post"], url_path="tokens")
    def create_token(self, request: Request, pk: str) -> Response:
        return _token_created(request, self.get_object().user)
