"""Routes of the governance API."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from governance.api import inventory, views

router = DefaultRouter(trailing_slash=True)
router.register("promotion-requests", views.PromotionRequestViewSet, basename="promotionrequest")
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("tokens", views.TokenViewSet, basename="token")
router.register("service-accounts", views.ServiceAccountViewSet, basename="serviceaccount")

urlpatterns = [
    *router.urls,
    path("versions/<int:pk>/metrics/", views.VersionMetricsView.as_view(), name="version-metrics"),
    path("inventory/", inventory.InventoryView.as_view(), name="inventory"),
    path("inventory.pdf", inventory.InventoryPdfView.as_view(), name="inventory-pdf"),
    path("inventory/<str:name>/", inventory.ModelInventoryView.as_view(), name="model-inventory"),
]
