"""The provider interface and the registry of provider kinds.

A provider is one upstream deployment (one configured model). It speaks the
OpenAI wire format on its side of the interface, whatever the upstream
speaks, through three methods: :meth:`Provider.send`, :meth:`Provider.stream`
and :meth:`Provider.aclose`. Vendor quirks are data in the provider's
options, not branches elsewhere.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tandem.call import Endpoint, ProviderResult, ProviderStream
from tandem.config import ConfigError, ModelConfig
from tandem.errors import UnsupportedParameter

__all__ = ["PROVIDERS", "Provider", "ProviderOptions", "create_provider", "provider_options"]


class ProviderOptions(BaseModel):
    """Base of each provider's typed ``options`` block in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Provider(ABC):
    """One upstream model deployment behind the OpenAI wire format."""

    #: The provider kind's registry name (``openai``, ``anthropic``, ...).
    kind: ClassVar[str]
    #: The endpoints this kind can serve at all.
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset({"chat"})
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions

    def __init__(self, config: ModelConfig, options: ProviderOptions) -> None:
        self.config = config
        self.options = options

    @abstractmethod
    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        """Make one non-streamed call.

        ``body`` is an OpenAI-format request whose ``model`` is already the
        upstream id. Returns the OpenAI-format reply and its usage. Raises a
        :class:`tandem.errors.TandemError` (upstream errors are mapped here).
        """

    @abstractmethod
    def stream(self, endpoint: Endpoint, body: dict[str, Any], *, passthrough: bool = False) -> ProviderStream:
        """Make one streamed call, yielding OpenAI-format chunk dicts.

        With ``passthrough``, a provider that relays an OpenAI-format stream
        may yield a chunk as the upstream's JSON bytes instead of a dict,
        for chunks that carry choices and no ``usage`` or ``error`` (the
        caller then must not need to change them); others ignore it.
        The last chunk carries ``usage`` whenever the upstream reports it.
        Errors before the first chunk and mid-stream raise a
        :class:`tandem.errors.TandemError`. Closing the iterator early
        (client disconnect) cancels the upstream call.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections, threads or model memory."""

    async def check_health(self) -> bool:
        """Cheap readiness probe; by default a provider is healthy once built."""
        return True

    def unsupported(self, endpoint: Endpoint) -> UnsupportedParameter:
        """The error for an endpoint this deployment cannot serve."""
        return UnsupportedParameter(
            f"Model {self.config.name!r} does not support the {endpoint} endpoint.",
            param="model",
        )


#: provider kind -> "module:Class"; imported only when a config uses it.
PROVIDERS: dict[str, str] = {
    "openai": "tandem.providers.openai_compat:OpenAICompatProvider",
    "openai_compatible": "tandem.providers.openai_compat:OpenAICompatProvider",
    "anthropic": "tandem.providers.anthropic:AnthropicProvider",
    "llama_cpp": "tandem.providers.llama_local:LlamaCppProvider",
    "fake": "tandem.providers.fake:FakeProvider",
}


def provider_class(kind: str) -> type[Provider]:
    """The provider class registered as ``kind``."""
    target = PROVIDERS.get(kind)
    if target is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider {kind!r} (known: {known})")
    module_name, attr = target.split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
    return cls


def provider_options(config: ModelConfig) -> ProviderOptions:
    """One configured model's ``options`` block, validated by its provider kind.

    Raises :class:`ConfigError` naming the model and each bad option.
    """
    cls = provider_class(config.provider)
    try:
        return cls.Options.model_validate(config.options)
    except ValidationError as exc:
        errs = "; ".join(f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"model {config.name!r}: {errs}") from None


def create_provider(config: ModelConfig, **kwargs: Any) -> Provider:
    """Build the provider for one configured model, validating its options."""
    return provider_class(config.provider)(config, provider_options(config), **kwargs)
