"""Routes of the audit API."""

from rest_framework.routers import DefaultRouter

from audit.api import views

router = DefaultRouter(trailing_slash=True)
router.register("audit/entries", views.AuditEntryViewSet, basename="auditentry")
router.register("audit/verifications", views.VerificationViewSet, basename="verification")
router.register("audit/checkpoints", views.CheckpointViewSet, basename="checkpoint")
router.register("audit/export", views.ExportView, basename="auditexport")

urlpatterns = router.urls
