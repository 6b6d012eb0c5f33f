"""Loaders for the public ME datasets and the generic manifest."""
