"""Train and evaluate a deep metric learning model: `python main.py --help` lists every option by group.

The command line is parsed and checked before torch is imported, so `--help` and a bad flag answer at once.
Started by torchrun (`torchrun --nproc_per_node N main.py ...`), it trains with DistributedDataParallel over the N
processes, rank 0 evaluating and writing (utilities/distributed.py).
"""
import argparse
import logging
import os
import shutil
import sys

import parameters
from utilities.errors import ConfigError, TrainingDiverged

LOG = logging.getLogger("main")


def explicit_flags(argv):
    """{option: value} of the flags actually given in argv (defaults left out)."""
    parser = parameters.build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return vars(parser.parse_args(argv))


def resume_options(run_dir, given):
    """The saved options of the run in run_dir, with the flags of RESUME_CHANGEABLE given on this command applied."""
    from utilities.logger import read_options
    if not run_dir.strip():
        raise ConfigError("--resume got an empty folder name (an unset shell variable?); pass the folder of the run "
                          "to continue, e.g. --resume Training_Results/cub200/<group>_s0.")
    if not os.path.isfile(os.path.join(run_dir, "options.json")):
        raise ConfigError(f"--resume {run_dir}: no options.json there; pass a run folder written by main.py "
                          f"(<save_path>/<dataset>/<group>_s<seed>/).")
    if not os.path.isfile(os.path.join(run_dir, "checkpoint_last.pth")):
        raise ConfigError(f"--resume {run_dir}: the run stopped before its first checkpoint, so there is nothing to "
                          f"continue; start it again with its original command (its options are in "
                          f"{os.path.join(run_dir, 'options.txt')}).")
    refused = sorted(key for key in given if key != "resume" and key not in parameters.RESUME_CHANGEABLE)
    if refused:
        raise ConfigError(
            f"--resume continues a run with its own options; {', '.join('--' + k for k in refused)} cannot change "
            f"on resume, since the saved model, optimiser, schedule, data order and CSV columns depend on them. "
            f"Start a new run to change them. Flags allowed with --resume: "
            f"{', '.join('--' + k for k in parameters.RESUME_CHANGEABLE)}.")
    saved = read_options(run_dir)
    opt = parameters.restore_options(saved)
    for key, value in given.items():
        if key == "resume" or value == saved.get(key):
            continue
        if key == "n_epochs" and opt.scheduler == "cosine":
            raise ConfigError(f"--n_epochs cannot change on resume of a --scheduler cosine run: the cosine schedule "
                              f"spans the original {saved['n_epochs']} epochs. Start a new run instead.")
        if key != "wandb_key":
            LOG.info("--resume: --%s %s (the run had %s).", key, value, saved.get(key))
        setattr(opt, key, value)
    opt.resume = run_dir
    return opt


def parse_options(argv):
    opt = parameters.build_parser().parse_args(argv)
    if opt.resume is not None:
        return resume_options(opt.resume, explicit_flags(argv))
    opt = parameters.apply_config(opt, argv)  # the --config recipe under the command line
    opt = parameters.resolve_dataset_defaults(opt)
    if not opt.group:
        opt.group = f"{opt.loss}_{opt.arch}"
    return opt


def stopped(run, reason, error=None):
    """Say how to go on after a run stopped early; a run without any checkpoint is removed, as nothing is lost.
    Under torchrun the other ranks only report the error: the folder is rank 0's."""
    from datasets.base import UnreadableImageError
    from utilities import distributed
    if not distributed.is_main():
        if error is not None:
            LOG.error("%s", error)
        return
    unreadable = isinstance(error, UnreadableImageError)
    skip = " --skip_unreadable_images" if unreadable and not run.opt.skip_unreadable_images else ""
    if error is not None:
        LOG.error("%s", error)
    if unreadable:
        LOG.error("An image could not be decoded (named above). Replace it, or leave such images out with "
                  "--skip_unreadable_images.")
    if run.has_checkpoint and not isinstance(error, TrainingDiverged):
        LOG.error("%s. Continue with: python main.py --resume %s%s%s", reason, run.run_dir, skip,
                  "" if distributed.current() is None else " (or under torchrun, with any number of processes)")
    elif not run.has_checkpoint:
        shutil.rmtree(run.run_dir, ignore_errors=True)
        LOG.error("%s before the first checkpoint: there is nothing to resume, so the run folder %s was removed. "
                  "Start again with the same command%s.", reason, run.run_dir, skip and f" plus{skip}")


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return train(argv)
    finally:
        distributed = sys.modules.get("utilities.distributed")
        if distributed is not None:  # leave torchrun's process group, if this process joined one
            distributed.shutdown()


def join_torchrun():
    """Under torchrun: join the process group; ranks other than 0 then log warnings and errors only."""
    from utilities import distributed
    if distributed.init_from_env() is not None:
        distributed.quiet_other_ranks()
    return distributed


def train(argv):
    try:
        opt = parse_options(argv)
        distributed = join_torchrun()
        from utilities.training import Run
        run = Run(opt, run_dir=opt.resume)
        try:
            run.start()
        except BaseException:
            run.close()
            if opt.resume is None and distributed.is_main():  # a fresh run refused during set-up: nothing to keep
                shutil.rmtree(run.run_dir, ignore_errors=True)
            raise
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    except KeyboardInterrupt:
        LOG.error("Interrupted before training started; nothing to resume.")
        return 130
    try:
        LOG.info("Run folder: %s", run.run_dir)
        summary = run.run()
    except KeyboardInterrupt:
        stopped(run, "Interrupted")
        return 130
    except ConfigError as error:
        stopped(run, "Stopped", error)
        return 2
    finally:
        run.close()
    for metric, best in summary["best"].items():
        LOG.info("best %s on %s: %.4f (epoch %d)", metric, summary["selection_split"], best["value"], best["epoch"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
