"""A tiny name -> component registry shared by every component folder.

Each component folder (criteria/, batchminer/, ...) owns one Registry. Its modules register themselves with
`@REGISTRY.register("name")`, so adding a component means adding one file. Components may define a static
`add_arguments(group)` to contribute their own namespaced command-line flags.

Names and flags are read from the component files' source (`static_index`) without importing them: the command line
is parsed, and `--help` or a bad flag answered, before torch is imported. So `add_arguments` must be self-contained:
it may use literals, builtins, the checked types of `utilities.argtypes`, module-level constants whose value is a
literal (numbers, strings, tuples, lists, dicts, sets) and functions of the same kind defined in, or imported into,
its file from this repository. `get(name)` imports only the module that registers `name`.
"""
import ast
import dataclasses
import importlib
import importlib.util
import os

from utilities import argtypes
from utilities.errors import ConfigError


@dataclasses.dataclass
class StaticComponent:
    """A registered component as found in its source file."""
    name: str
    module: str
    path: str
    add_arguments: "ast.FunctionDef | None"
    literals: dict = dataclasses.field(default_factory=dict)  # the class's literal attributes named in LITERALS
    # add_arguments compiled once: compiling it for every parser built took most of the time of a parse.
    _function: object = dataclasses.field(default=None, repr=False, compare=False)

    def flags(self, group):
        """Run the component's add_arguments on `group` without importing its module."""
        if self.add_arguments is None:
            return
        if self._function is None:
            namespace = dict(_module_namespace(self.path))
            _define(self.add_arguments, namespace, self.path)
            self._function = namespace[self.add_arguments.name]
        try:
            self._function(group)
        except NameError as error:
            raise RuntimeError(
                f"{self.path}: add_arguments of '{self.name}' uses a name that is unavailable when flags are read "
                f"without importing the module ({error}); use literals, literal module constants, functions of "
                f"the same kind or utilities.argtypes.") from error


_INDEX = {}
_NAMESPACES = {}


def _parse(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), filename=path)


def _define(function_node, namespace, path):
    """Execute one function definition (decorators dropped) into namespace."""
    node = ast.FunctionDef(**{**{f: getattr(function_node, f) for f in function_node._fields}, "decorator_list": []})
    code = compile(ast.fix_missing_locations(ast.Module(body=[node], type_ignores=[])), path, "exec")
    exec(code, namespace)  # noqa: S102 - a function definition from our own source file


def _source_path(module_name):
    """The .py file of a module of this repository, found without importing anything; None if there is none."""
    top, *rest = module_name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.submodule_search_locations is None or not rest:
        return None
    path = os.path.join(spec.submodule_search_locations[0], *rest) + ".py"
    return path if os.path.isfile(path) else None


def _module_namespace(path):
    """What a statically read function of this file can use: utilities.argtypes, the file's literal constants, its
    top-level functions, and functions it imports from other files of this repository (read the same way)."""
    if path not in _NAMESPACES:
        namespace = {name: getattr(argtypes, name) for name in argtypes.__all__}
        _NAMESPACES[path] = namespace  # before recursing, so that import cycles end
        tree = _parse(path)
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    namespace[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass  # computed at import time: unavailable
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                other = _source_path(node.module)
                if other is not None:
                    imported = _module_namespace(other)
                    namespace.update({alias.asname or alias.name: imported[alias.name] for alias in node.names
                                      if callable(imported.get(alias.name))})
            elif isinstance(node, ast.FunctionDef):
                try:
                    _define(node, namespace, path)
                except NameError:
                    pass  # a default argument computed from unavailable names
    return _NAMESPACES[path]


def _registered_name(class_node):
    for decorator in class_node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "register" and len(decorator.args) == 1
                and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
            return decorator.args[0].value
    return None


# Class attributes that option defaults depend on, read from a registered class's own body (not inherited):
# a loss's EVALUATION_METRICS (added to the default metric list) and RAW_EMBEDDING_NORM (default architecture
# without _normalize).
LITERALS = ("EVALUATION_METRICS", "RAW_EMBEDDING_NORM")


def _class_literals(class_node):
    return {item.targets[0].id: ast.literal_eval(item.value) for item in class_node.body
            if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name)
            and item.targets[0].id in LITERALS}


def static_index(package_name):
    """{name: StaticComponent} of every component registered in the package's modules, read from source."""
    if package_name not in _INDEX:
        spec = importlib.util.find_spec(package_name)  # locates the package without running its __init__
        folder = spec.submodule_search_locations[0]
        index = {}
        for filename in sorted(os.listdir(folder)):
            if not filename.endswith(".py") or filename.startswith("_"):
                continue
            path = os.path.join(folder, filename)
            for node in _parse(path).body:
                name = _registered_name(node) if isinstance(node, ast.ClassDef) else None
                if name is None:
                    continue
                if name in index:
                    raise RuntimeError(f"'{name}' is registered twice in {package_name}/")
                add = next((item for item in node.body
                            if isinstance(item, ast.FunctionDef) and item.name == "add_arguments"), None)
                index[name] = StaticComponent(name, f"{package_name}.{filename[:-3]}", path, add,
                                              _class_literals(node))
        _INDEX[package_name] = index
    return _INDEX[package_name]


def static_names(package_name):
    return sorted(static_index(package_name))


def add_static_arguments(parser, package_name, title):
    """Give every component of the package that declares flags its own argparse group."""
    for name, component in sorted(static_index(package_name).items()):
        if component.add_arguments is not None:
            component.flags(parser.add_argument_group(f"{title}: {name}"))


class Registry:
    def __init__(self, kind, package_name):
        self.kind = kind
        self.package_name = package_name
        self._entries = {}

    def register(self, name):
        def decorator(obj):
            if name in self._entries and self._entries[name] is not obj:
                raise RuntimeError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            obj.registry_name = name
            return obj

        return decorator

    def names(self):
        """Names from the source index, plus any registered at run time (e.g. by a test)."""
        return sorted(set(static_names(self.package_name)) | set(self._entries))

    def items(self):
        return [(name, self.get(name)) for name in self.names()]

    def get(self, name):
        if name not in self._entries:
            component = static_index(self.package_name).get(name)
            if component is None:
                raise ConfigError(f"Unknown {self.kind} '{name}'. Valid {self.kind} names: "
                                  f"{', '.join(self.names())}.")
            importlib.import_module(component.module)
        return self._entries[name]

    def add_arguments(self, parser, title):
        add_static_arguments(parser, self.package_name, title)
