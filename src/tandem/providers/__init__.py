"""Providers: one module per upstream kind, all behind :class:`Provider`."""

from tandem.providers.base import PROVIDERS, Provider, ProviderOptions, create_provider

__all__ = ["PROVIDERS", "Provider", "ProviderOptions", "create_provider"]
