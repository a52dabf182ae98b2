"""Pedigree api."""
