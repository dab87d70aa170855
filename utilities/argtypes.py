"""Checked argparse types: a value out of range is refused while the command line is parsed, before any data or
model is loaded, with argparse's usual `argument --flag: ...` message and exit status 2.

Every float type refuses NaN and infinities, since a NaN learning rate or margin only shows up epochs later as a
NaN loss. Components use these in their `add_arguments(group)`, e.g. `type=positive_float`.
This module must stay free of heavy imports: the command line is parsed before torch is imported.
"""
import argparse
import math

__all__ = ["OnOff", "finite_float", "positive_float", "nonnegative_float", "fraction", "probability", "positive_int",
           "nonnegative_int", "positive_int_or_minus_one", "positive_float_or_minus_one"]


def _number(text, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _checked(kind, accept, expectation, name):
    def parse(text):
        value = _number(text, kind)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expectation}, got {text!r}")
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


finite_float = _checked(float, lambda v: True, "a finite number", "finite_float")
positive_float = _checked(float, lambda v: v > 0, "a number > 0", "positive_float")
nonnegative_float = _checked(float, lambda v: v >= 0, "a number >= 0", "nonnegative_float")
fraction = _checked(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1", "fraction")
probability = _checked(float, lambda v: 0 <= v <= 1, "a number between 0 and 1", "probability")
positive_int = _checked(int, lambda v: v > 0, "an integer > 0", "positive_int")
nonnegative_int = _checked(int, lambda v: v >= 0, "an integer >= 0", "nonnegative_int")
# Roth's convention for "not set" (-1: no projection, the head's lr = --lr).
positive_int_or_minus_one = _checked(int, lambda v: v > 0 or v == -1, "an integer > 0, or -1",
                                     "positive_int_or_minus_one")
positive_float_or_minus_one = _checked(float, lambda v: v > 0 or v == -1, "a number > 0, or -1",
                                       "positive_float_or_minus_one")


class OnOff(argparse.Action):
    """A switch with an explicit off form, `--name` / `--no_name`, for options whose default depends on something
    else (the dataset): unset stays None until that default is filled in, and either form overrides it."""

    def __init__(self, option_strings, dest, **kwargs):
        name = option_strings[0][2:]
        self.on, self.off = f"--{name}", f"--no_{name}"
        super().__init__([self.on, self.off], dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string == self.on)
