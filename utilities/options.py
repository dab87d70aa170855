"""What of a run's options may be stored: every copy that leaves the process (options.json/.txt, checkpoints,
the W&B config) goes through `saved_options`, so a secret given on the command line is never written anywhere."""

# Options holding credentials: used in memory, never stored.
SECRET_OPTIONS = ("wandb_key",)


def saved_options(opt):
    """A plain dict of the options with the secrets left out (opt: a Namespace or a dict)."""
    options = dict(opt if isinstance(opt, dict) else vars(opt))
    for key in SECRET_OPTIONS:
        options.pop(key, None)
    return options
