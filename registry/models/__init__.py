"""Registry models: what is governed."""

from registry.models.dataset import Dataset, DatasetVersion
from registry.models.model import EUAIActCategory, RegisteredModel, RiskTier
from registry.models.version import ArtifactFormat, ModelVersion, Stage

__all__ = [
    "ArtifactFormat",
    "Dataset",
    "DatasetVersion",
    "EUAIActCategory",
    "ModelVersion",
    "RegisteredModel",
    "RiskTier",
    "Stage",
]
