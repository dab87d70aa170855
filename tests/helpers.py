"""Small shared test utilities."""
import parameters


def options(*argv):
    """An options namespace exactly as main.py would build it from these flags."""
    return parameters.parse_args(list(argv))
