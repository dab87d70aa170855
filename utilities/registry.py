"""A tiny name -> component registry shared by every component folder.

Each component folder (criteria/, batchminer/, ...) owns one Registry. Its modules register themselves with
`@REGISTRY.register("name")`; `discover()` imports every module of the package so that adding a component means
adding one file. Components may define `add_arguments(group)` (a staticmethod/classmethod) to contribute their own
namespaced command-line flags.
"""
import importlib
import pkgutil

from utilities.errors import ConfigError


class Registry:
    def __init__(self, kind, package_name):
        self.kind = kind
        self.package_name = package_name
        self._entries = {}
        self._discovered = False

    def register(self, name):
        def decorator(obj):
            if name in self._entries and self._entries[name] is not obj:
                raise RuntimeError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            obj.registry_name = name
            return obj

        return decorator

    def discover(self):
        if self._discovered:
            return
        package = importlib.import_module(self.package_name)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{self.package_name}.{module.name}")
        self._discovered = True

    def names(self):
        self.discover()
        return sorted(self._entries)

    def items(self):
        self.discover()
        return sorted(self._entries.items())

    def get(self, name):
        self.discover()
        if name not in self._entries:
            raise ConfigError(f"Unknown {self.kind} '{name}'. Valid {self.kind} names: {', '.join(self.names())}.")
        return self._entries[name]

    def add_arguments(self, parser, title):
        """Give every registered component that declares flags its own argparse group."""
        for name, component in self.items():
            add = getattr(component, "add_arguments", None)
            if add is not None:
                add(parser.add_argument_group(f"{title}: {name}"))
