"""Representation-geometry tools for any ``torch.nn.Module`` (and shapekit's own models)."""
