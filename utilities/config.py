"""`--config recipe.yaml`: option values read from a YAML file, used as the defaults of the command line.

A recipe maps option names (the names `python main.py --help` lists, without the leading `--`) to values:

    loss: multisimilarity
    tau: [60, 80]            # a flag taking several values: a list (or one value)
    no_train_metrics: true   # an on/off flag: true gives the flag, false leaves it off

A W&B config export (`config.yaml` of a run, every entry `name: {desc: ..., value: ...}`) is read the same way, with
W&B's own entries (`_wandb`, `wandb_version`) left out; so is a run's options.json (JSON is YAML).

Every value goes through the argparse action of its flag, so it is converted and checked exactly as on the command
line (`lr: -1` is refused with the message of `--lr -1`); an unknown name is refused with the closest option names.
The checked values become the parser's defaults, so a flag given on the command line wins over the recipe.

Only the standard library and (inside `read_recipe`) PyYAML are imported: recipes are read before torch.
"""
import argparse
import difflib

from utilities.errors import ConfigError

# Key names of other code bases' recipes -> our option names, applied before the keys are checked. A key listed here
# is read as the option it names; a recipe giving both a key and its alias is refused. Empty for now.
ALIASES = {}

# Entries W&B adds to its config exports: bookkeeping, not options.
WANDB_ENTRIES = ("_wandb", "wandb_version")

# Options a recipe does not set. `config` is skipped rather than refused: an export of a run that itself came from a
# recipe records that recipe's path, and reading the export must not follow it.
SKIPPED_OPTIONS = ("config",)


class _Refused(Exception):
    """argparse's error while one recipe value is parsed (raised instead of exiting)."""


def read_recipe(path, aliases=None):
    """[(key as written, option name, value)] of the YAML recipe at path, in file order.

    Both forms are accepted, entry by entry: `name: value` and W&B's `name: {desc: ..., value: ...}`. W&B's
    bookkeeping entries are left out and `aliases` (default ALIASES) renames keys; names are not checked here."""
    import yaml

    aliases = ALIASES if aliases is None else aliases
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config {path}: cannot be read ({error}).") from None
    loader = _unique_key_loader()(text)
    loader.name = str(path)  # error marks then read 'in "<path>", line 3, column 6'
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ConfigError(f"--config {path} is not valid YAML: {error}") from None
    finally:
        loader.dispose()
    if data is None:  # empty, or only comments
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of option names to values (e.g. `loss: "
                          f"multisimilarity`, one per line), got a {type(data).__name__}.")
    entries, seen = [], {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"--config {path}: option names are text, got the key {key!r}.")
        if key in WANDB_ENTRIES:
            continue
        if isinstance(value, dict):
            if "value" not in value or set(value) - {"value", "desc"}:
                raise ConfigError(f"--config {path}: '{key}' holds a mapping; an option takes a value, a list of "
                                  f"values, or W&B's form {{desc: ..., value: ...}}.")
            value = value["value"]
        name = aliases.get(key, key)
        if name in seen:
            raise ConfigError(f"--config {path}: '{key}' and '{seen[name]}' both set the option '{name}'.")
        seen[name] = key
        entries.append((key, name, value))
    return entries


def recipe_values(path, build_parser, aliases=None):
    """{option name: value} of the recipe at path, each value converted and checked by its flag's argparse action.

    build_parser: a function returning a fresh parser of the options (it is modified here)."""
    entries = read_recipe(path, aliases)
    parser = build_parser()
    actions = {action.dest: action for action in parser._actions
               if action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))}
    unknown = [(key, name) for key, name, _ in entries if name not in actions]
    if unknown:
        problems = "; ".join(_unknown_message(key, name, actions) for key, name in unknown)
        raise ConfigError(f"--config {path}: {problems}. Keys are option names as listed by `python main.py --help`, "
                          f"without the leading --, e.g. `loss: multisimilarity`.")

    defaults = {dest: action.default for dest, action in actions.items()}
    for action in parser._actions:  # parse only what the recipe gives
        action.default = argparse.SUPPRESS

    def refuse(message):
        raise _Refused(message)
    parser.error = refuse

    values = {}
    for key, name, value in entries:
        if name in SKIPPED_OPTIONS:
            continue
        where = f"--config {path}, key '{key}'"
        if value is None:
            if defaults[name] is None:  # null: this option's own "unset" (dataset default, loss's own choice, ...)
                continue
            raise ConfigError(f"{where}: null is not a value of --{name}; give a value, or leave the key out for the "
                              f"default ({defaults[name]!r}).")
        if name == "resume":
            raise ConfigError(f"{where}: a recipe cannot resume a run; continue a run with "
                              f"`python main.py --resume {value}` and no --config.")
        argv = _flag_argv(actions[name], value, where)
        if not argv:
            continue
        try:
            values.update(vars(parser.parse_args(argv)))
        except _Refused as refused:
            raise ConfigError(f"{where}: {refused}.") from None
    return values


def _unknown_message(key, name, actions):
    """unknown option 'x' (did you mean 'y'?)"""
    what = f"'{key}' (read as '{name}')" if key != name else f"'{key}'"
    plain = name.lstrip("-").replace("-", "_")
    close = [plain] if plain in actions else difflib.get_close_matches(plain, actions, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown option {what}{hint}"


def _flag_argv(action, value, where):
    """The command-line words that give `value` to `action`: the same argparse action then converts and checks it."""
    flag = max(action.option_strings, key=len)
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(value, bool) or not isinstance(action.const, bool):
            raise ConfigError(f"{where}: {flag} is an on/off flag; give true or false, got {value!r}.")
        return [flag] if value is action.const else []
    takes_list = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    if isinstance(value, list):
        if not takes_list:
            raise ConfigError(f"{where}: {flag} takes one value, got the list {value!r}.")
        return [flag, *(_word(item, where, flag) for item in value)]
    if takes_list:
        return [flag, _word(value, where, flag)]
    return [f"{flag}={_word(value, where, flag)}"]  # `=`: a value starting with '-' is not read as a flag


def _word(value, where, flag):
    if value is None or isinstance(value, (list, dict)):
        raise ConfigError(f"{where}: {flag} got {value!r}; give plain values (numbers or text).")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unique_key_loader():
    """A yaml SafeLoader that refuses a key given twice in one mapping (plain PyYAML keeps the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            keys = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str):
                    if key in keys:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark, f"found the key '{key}' twice",
                            key_node.start_mark)
                    keys.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
