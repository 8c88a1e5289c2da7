"""Routes of the monitoring API."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from monitoring.api import views

router = DefaultRouter(trailing_slash=True)
router.register("batches", views.BatchViewSet, basename="batch")
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")
router.register("monitoring-reports", views.MonitoringReportViewSet, basename="monitoringreport")

urlpatterns = [
    *router.urls,
    path("versions/<int:pk>/batches/", views.VersionBatchesView.as_view(), name="version-batches"),
    path("versions/<int:pk>/monitoring/", views.VersionMonitoringView.as_view(), name="version-monitoring"),
    path("versions/<int:pk>/monitoring-reports/", views.VersionReportsView.as_view(),
         name="version-monitoring-reports"),
    path("models/<str:name>/monitoring/", views.ModelMonitoringView.as_view(), name="model-monitoring"),
    path("batches/<int:pk>/outcomes/", views.BatchOutcomesView.as_view(), name="batch-outcomes"),
    path("batches/<int:pk>/rows/<int:index>/receipt/", views.RowReceiptView.as_view(), name="row-receipt"),
    path("holds/<int:pk>/release/", views.HoldReleaseView.as_view(), name="hold-release"),
]
