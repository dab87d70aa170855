"""`--config recipe.yaml`: option values read from a YAML file, used as the defaults of the command line.

A recipe maps option names (the names `python main.py --help` lists, without the leading `--`) to values:

    loss: multisimilarity
    tau: [60, 80]            # a flag taking several values: a list (or one value)
    no_train_metrics: true   # an on/off flag: true gives the flag, false leaves it off

A W&B config export (`config.yaml` of a run, every entry `name: {desc: ..., value: ...}`) is read the same way, with
W&B's own entries (`_wandb`, `wandb_version`) left out; so is a run's options.json (JSON is YAML). A key may also be
any flag of an option without its dashes (`num_p_prompt` for `--loss_vptsp_num_p_prompt`, whose alias it is).

Recipes of other code bases load as written: a recipe holding a marker key of a source in
utilities/recipe_sources.py (the paper configs of Ren et al. 2024) has its keys and values translated and that code's
defaults filled in for the options it leaves out; see that module.

Every value goes through the argparse action of its flag, so it is converted and checked exactly as on the command
line (`lr: -1` is refused with the message of `--lr -1`); an unknown name is refused with the closest option names.
The checked values become the parser's defaults, so a flag given on the command line wins over the recipe.

Only the standard library and (inside `read_recipe`) PyYAML are imported: recipes are read before torch.
"""
import argparse
import difflib
import logging

from utilities.argtypes import OnOff
from utilities.errors import ConfigError
from utilities.recipe_sources import SOURCES

LOG = logging.getLogger(__name__)

# Entries W&B adds to its config exports: bookkeeping, not options.
WANDB_ENTRIES = ("_wandb", "wandb_version")

# Options a recipe does not set. `config` is skipped rather than refused: an export of a run that itself came from a
# recipe records that recipe's path, and reading the export must not follow it.
SKIPPED_OPTIONS = ("config",)


class _Refused(Exception):
    """argparse's error while one recipe value is parsed (raised instead of exiting)."""


def read_recipe(path):
    """[(key, value)] of the YAML recipe at path, in file order.

    Both forms are accepted, entry by entry: `name: value` and W&B's `name: {desc: ..., value: ...}`. W&B's
    bookkeeping entries are left out; names are not checked here."""
    import yaml

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
    entries = []
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
        entries.append((key, value))
    return entries


def detect_source(keys, sources):
    """The RecipeSource whose marker keys the recipe holds, or None (a recipe in our own names)."""
    found = [source for source in sources if source.markers & set(keys)]
    if len(found) > 1:
        raise ConfigError(f"the recipe holds marker keys of {len(found)} code bases ("
                          f"{', '.join(source.name for source in found)}); use one's keys.")
    return found[0] if found else None


def translate(path, entries, source):
    """[(key as written, option name, value)]: the source's names and values made ours, its fixed keys checked and
    its ignored keys dropped (and logged)."""
    if source is None:
        return [(key, key, value) for key, value in entries]
    translated, ignored = [], []
    for key, value in entries:
        if key in source.ignored:
            ignored.append(f"{key} ({source.ignored[key]})")
            continue
        if key in source.fixed:
            expected, reason = source.fixed[key]
            if not (value == expected and isinstance(value, bool) == isinstance(expected, bool)):
                raise ConfigError(f"--config {path}, key '{key}': only {expected!r} is implemented here ({reason}); "
                                  f"got {value!r}.")
            continue
        mapping = source.values.get(key, {})
        if isinstance(value, (str, int, float)) and value in mapping:
            value = mapping[value]
        translated.append((key, source.aliases.get(key, key), value))
    LOG.info("--config %s is read as a recipe of %s; keys with no effect here: %s", path, source.name,
             "; ".join(ignored) or "none")
    return translated


def recipe_values(path, build_parser, sources=None):
    """{option name: value} of the recipe at path, each value converted and checked by its flag's argparse action.

    build_parser: a function returning a fresh parser of the options (it is modified here)."""
    entries = read_recipe(path)
    source = detect_source([key for key, _ in entries], SOURCES if sources is None else sources)
    entries = translate(path, entries, source)
    parser = build_parser()
    actions = {action.dest: action for action in parser._actions
               if action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))}
    flags = {flag[2:]: dest for dest, action in actions.items() for flag in action.option_strings
             if flag.startswith("--")}
    unknown = [(key, name) for key, name, _ in entries if name not in actions and name not in flags]
    if unknown:
        problems = "; ".join(_unknown_message(key, name, {*actions, *flags}) for key, name in unknown)
        raise ConfigError(f"--config {path}: {problems}. Keys are option names as listed by `python main.py --help`, "
                          f"without the leading --, e.g. `loss: multisimilarity`.")
    resolved, seen = [], {}
    for key, name, value in entries:
        dest = name if name in actions else flags[name]
        if dest in seen:
            raise ConfigError(f"--config {path}: '{key}' and '{seen[dest]}' both set the option '{dest}'.")
        seen[dest] = key
        resolved.append((key, dest, value))
    if source is not None:  # the source code's defaults under what its recipe gives
        resolved = [(f"{name} (a default of {source.name})", name, value)
                    for name, value in source.defaults.items() if name not in seen] + resolved
    entries = resolved

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


def _unknown_message(key, name, names):
    """unknown option 'x' (did you mean 'y'?)"""
    what = f"'{key}' (read as '{name}')" if key != name else f"'{key}'"
    plain = name.lstrip("-").replace("-", "_")
    close = [plain] if plain in names else difflib.get_close_matches(plain, sorted(names), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown option {what}{hint}"


def _flag_argv(action, value, where):
    """The command-line words that give `value` to `action`: the same argparse action then converts and checks it."""
    if isinstance(action, OnOff):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {action.on} is an on/off flag; give true or false, got {value!r}.")
        return [action.on if value else action.off]
    flag = max(action.option_strings, key=len)
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(value, bool) or not isinstance(action.const, bool):
            raise ConfigError(f"{where}: {flag} is an on/off flag; give true or false, got {value!r}.")
        return [flag] if value is action.const else []
    if action.nargs == "?" and isinstance(value, bool):  # a flag whose value is optional: true gives it bare
        return [flag] if value else []
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
