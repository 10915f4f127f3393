"""tandem: one OpenAI-compatible endpoint over an ensemble of local and hosted LLMs.

The public API is re-exported here and imported lazily, so that
``import tandem`` (and the CLI) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tandem.api.app import create_app
    from tandem.call import Call, KeyInfo, ProviderResult, RouteDecision, Usage
    from tandem.config import Config, ConfigError, ModelConfig, RouteConfig, load_config
    from tandem.errors import TandemError
    from tandem.gateway import Gateway, RetryPolicy
    from tandem.providers.base import Provider, create_provider

_EXPORTS = {
    "create_app": "tandem.api.app",
    "Call": "tandem.call",
    "KeyInfo": "tandem.call",
    "ProviderResult": "tandem.call",
    "RouteDecision": "tandem.call",
    "Usage": "tandem.call",
    "Config": "tandem.config",
    "ConfigError": "tandem.config",
    "ModelConfig": "tandem.config",
    "RouteConfig": "tandem.config",
    "load_config": "tandem.config",
    "TandemError": "tandem.errors",
    "Gateway": "tandem.gateway",
    "RetryPolicy": "tandem.gateway",
    "Provider": "tandem.providers.base",
    "create_provider": "tandem.providers.base",
}

__all__ = [
    "Call",
    "Config",
    "ConfigError",
    "Gateway",
    "KeyInfo",
    "ModelConfig",
    "Provider",
    "ProviderResult",
    "RetryPolicy",
    "RouteConfig",
    "RouteDecision",
    "TandemError",
    "Usage",
    "create_app",
    "create_provider",
    "load_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tandem' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
