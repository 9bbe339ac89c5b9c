"""Shared tiny FAR models for the FAR tests (random weights, no zero-init outputs)."""

import pytest
import torch

from vlmctx.far import FARModel, preset


def random_model(**overrides) -> FARModel:
    """A tiny FAR model whose every weight is random (zero-init would hide bugs)."""
    torch.manual_seed(0)
    model = FARModel(preset("tiny", **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


@pytest.fixture
def tiny_model() -> FARModel:
    return random_model()


@pytest.fixture
def make_model():
    """Factory for tiny random models with config overrides."""
    return random_model
