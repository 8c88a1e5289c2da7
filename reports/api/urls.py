"""Routes of the reports API."""

from rest_framework.routers import DefaultRouter

from reports.api import views

router = DefaultRouter(trailing_slash=True)
router.register("reports", views.ReportViewSet, basename="report")

urlpatterns = router.urls
