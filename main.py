"""Train and evaluate a deep metric learning model: `python main.py --help` lists every option by group."""
import logging
import os
import sys

import parameters
from utilities.errors import ConfigError

LOG = logging.getLogger("main")


def parse_options(argv):
    opt = parameters.parse_args(argv)
    if opt.resume:
        # A resumed run keeps the options it was started with; only the folder to resume comes from this command.
        from utilities.logger import read_options
        resume_dir = opt.resume
        if not os.path.isfile(os.path.join(resume_dir, "options.json")):
            raise ConfigError(f"--resume {resume_dir}: no options.json there; pass a run folder written by main.py "
                              f"(<save_path>/<dataset>/<group>_s<seed>/).")
        if not os.path.isfile(os.path.join(resume_dir, "checkpoint_last.pth")):
            raise ConfigError(f"--resume {resume_dir}: the run has no checkpoint_last.pth yet; start it again "
                              f"without --resume.")
        opt = parameters.build_parser().parse_args([])
        vars(opt).update(read_options(resume_dir))
        opt.resume = resume_dir
    if not opt.group:
        opt.group = f"{opt.loss}_{opt.arch}"
    return opt


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        opt = parse_options(argv)
        from utilities.training import Run
        run = Run(opt, run_dir=opt.resume or None)
        if opt.resume:
            run.resume()
        LOG.info("Run folder: %s", run.run_dir)
        try:
            summary = run.run()
        except KeyboardInterrupt:
            LOG.error("Interrupted. Continue with: python main.py --resume %s", run.run_dir)
            return 130
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    for metric, best in summary["best"].items():
        LOG.info("best %s on %s: %.4f (epoch %d)", metric, summary["selection_split"], best["value"], best["epoch"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
