"""Channel adapters: pure functions from a channel's export or API to canonical sale lines.

Importing this package imports every adapter module, which files its adapter in
``adapters.base.REGISTRY``.
"""

from importlib import import_module

# Every adapter module, one per line; a new channel's module is added here.
ADAPTER_MODULES = (
    "jd",
    "taobao",
    "pdd",
    "p832",
    "counter",
    "taobao_api",
)

for _module in ADAPTER_MODULES:
    import_module(f"{__name__}.{_module}")
