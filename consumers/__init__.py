"""Pedigree consumers."""
