"""Router registry: ``(lime_mode, lime_lookup)`` -> the ``blocks.{l}.lime`` class, imported on use.

A leaf module (it imports nothing from lime_lens), so ``LIMeConfig`` validates against it while
the routers import ``LIMeConfig``. Built-in routers are named by ``"module:ClassName"`` strings
and imported lazily with importlib; :func:`register_router` adds a class (or such a string).
Each entry also has a short name: ``python -m lime_lens.train --arch lime-{name}``.

``LIMeConfig.lime_sources`` (paper v2 App. D, Table 7) restricts which sources a layer reads;
"full" is the ``(lime_mode, lime_lookup)`` router itself, any other value picks the router that
``(lime_mode, lime_sources)`` names in ``_SOURCE_ROUTERS`` (in place of the static lookup).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple


class RouterEntry(NamedTuple):
    name: str
    """Short name, e.g. ``"kv"`` or ``"residual-dynamic"`` (training arch ``"lime-{name}"``)."""
    target: Any
    """The router class, or ``"module:ClassName"`` imported on first use."""


_ROUTERS: dict[tuple[str, str], RouterEntry] = {
    ("kv", "static"): RouterEntry("kv", "lime_lens.routers.kv:KVStaticRouter"),  # v2 §4
    ("residual", "static"): RouterEntry(
        "residual-static", "lime_lens.routers.residual_static:ResidualStaticRouter"
    ),  # v1 §3
    ("residual", "dynamic"): RouterEntry(
        "residual-dynamic", "lime_lens.routers.residual_dynamic:ResidualDynamicRouter"
    ),
    ("residual", "top_p"): RouterEntry(
        "residual-top_p", "lime_lens.routers.residual_top_p:ResidualTopPRouter"
    ),
}


LIME_SOURCES = ("full", "average", "last_j", "first_j")
"""Values of ``LIMeConfig.lime_sources`` (paper v2 App. D): every earlier layer (the router of
``(lime_mode, lime_lookup)``), a fixed uniform average, the last j layers, the first j layers."""

_SOURCE_ROUTERS: dict[tuple[str, str], RouterEntry] = {
    ("kv", "average"): RouterEntry("kv-average", "lime_lens.routers.kv_average:KVAverageRouter"),
    ("kv", "last_j"): RouterEntry("kv-last_j", "lime_lens.routers.kv_sources:KVSourceRouter"),
    ("kv", "first_j"): RouterEntry("kv-first_j", "lime_lens.routers.kv_sources:KVSourceRouter"),
}


def register_router(lime_mode: str, lime_lookup: str, router: Any, name: str | None = None) -> None:
    """Make ``LIMeConfig(lime_mode=..., lime_lookup=...)`` build ``router`` at layers l >= 1.

    ``router`` is a ``lime_lens.routers.LIMeRouter`` subclass or a ``"module:ClassName"``
    string. Refuses to replace an entry that holds a different router.
    """
    key = (lime_mode, lime_lookup)
    entry = RouterEntry(name or f"{lime_mode}-{lime_lookup}", router)
    if key in _ROUTERS and _ROUTERS[key].target is not router:
        raise ValueError(
            f"lime_mode={lime_mode!r}, lime_lookup={lime_lookup!r} already names {_ROUTERS[key].target}"
        )
    _ROUTERS[key] = entry


def router_entries() -> dict[tuple[str, str], RouterEntry]:
    """Every registered ``(lime_mode, lime_lookup) -> RouterEntry``, in registration order."""
    return dict(_ROUTERS)


def source_router_entries() -> dict[tuple[str, str], RouterEntry]:
    """Every ``(lime_mode, lime_sources) -> RouterEntry`` of the restricted-source routers."""
    return dict(_SOURCE_ROUTERS)


def check_router_key(lime_mode: str, lime_lookup: str, lime_sources: str = "full") -> None:
    """Raise a ValueError naming the config field that selects no registered router."""
    modes = tuple(dict.fromkeys(mode for mode, _ in _ROUTERS))
    if lime_mode not in modes:
        raise ValueError(f"lime_mode must be one of {modes}, got {lime_mode!r}")
    lookups = tuple(lookup for mode, lookup in _ROUTERS if mode == lime_mode)
    if (lime_mode, lime_lookup) not in _ROUTERS:
        raise ValueError(
            f"lime_lookup must be one of {lookups} for lime_mode={lime_mode!r}, got {lime_lookup!r}"
        )
    if lime_sources not in LIME_SOURCES:
        raise ValueError(f"lime_sources must be one of {LIME_SOURCES}, got {lime_sources!r}")
    if lime_sources != "full" and (lime_mode, lime_sources) not in _SOURCE_ROUTERS:
        raise ValueError(
            f"lime_sources={lime_sources!r} is not implemented for lime_mode={lime_mode!r} "
            f"(only {sorted({k for k in _SOURCE_ROUTERS})})"
        )
    if lime_sources != "full" and lime_lookup != "static":
        raise ValueError(
            f"lime_sources={lime_sources!r} replaces the static lookup; lime_lookup must be "
            f"'static', got {lime_lookup!r}"
        )


def router_class_for(lime_mode: str, lime_lookup: str, lime_sources: str = "full") -> type[Any]:
    """The router class registered under ``(lime_mode, lime_lookup)`` (or, for restricted
    ``lime_sources``, under ``(lime_mode, lime_sources)``), imported if needed."""
    check_router_key(lime_mode, lime_lookup, lime_sources)
    if lime_sources == "full":
        target = _ROUTERS[(lime_mode, lime_lookup)].target
    else:
        target = _SOURCE_ROUTERS[(lime_mode, lime_sources)].target
    if isinstance(target, str):
        module, _, name = target.partition(":")
        target = getattr(importlib.import_module(module), name)
    return target


def router_class(cfg: Any) -> type[Any]:
    """The router class (a ``lime_lens.routers.LIMeRouter``) that ``cfg`` (a LIMeConfig) selects."""
    return router_class_for(cfg.lime_mode, cfg.lime_lookup, getattr(cfg, "lime_sources", "full"))
