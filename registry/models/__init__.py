"""Registry models: what is governed."""

from registry.models.dataset import Dataset, DatasetVersion
from registry.models.model import EUAIActCategory, RegisteredModel, RiskTier
from registry.models.personnel import ModelPersonnel, PersonnelRole
from registry.models.version import ArtifactFormat, ModelVersion, Stage

__all__ = [
    "ArtifactFormat",
    "Dataset",
    "DatasetVersion",
    "EUAIActCategory",
    "ModelPersonnel",
    "ModelVersion",
    "PersonnelRole",
    "RegisteredModel",
    "RiskTier",
    "Stage",
]
