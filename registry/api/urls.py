"""Routes of the registry API."""

from rest_framework.routers import DefaultRouter

from registry.api import views

router = DefaultRouter(trailing_slash=True)
router.register("models", views.ModelViewSet, basename="model")
router.register("versions", views.VersionViewSet, basename="version")
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="datasetversion")

urlpatterns = router.urls
