"""Curation: steps that keep or drop records and say why (one step per module)."""
