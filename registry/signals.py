"""Signals the registry sends inside its transactions, for the layers above it to react in the same one."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the registry services, inside the transaction of the change, when people became a model's owner or
# developers (model=RegisteredModel, user_ids=list[int], at=datetime). Governance lapses the approvals they gave
# on that model's open requests: a person on the model never decides its promotion.
model_personnel_joined = Signal()
