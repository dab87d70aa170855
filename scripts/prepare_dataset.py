"""Prepare a benchmark from the form you already have it in:

    python scripts/prepare_dataset.py <dataset> <path> [<path> ...] [--source_path data] [--skip_count_check]

<path>: the official archive (.tgz/.tar/.tar.gz/.zip, extracted once into <source_path>/.extracted/<dataset>/) or
folder, a folder in Divide-and-Conquer's or Proxy-Anchor's layout, or a data root holding one; a release that
comes in several files takes them all (`cars196 car_ims.tgz cars_annos.mat`). The layout is recognised, every
listed image checked and the split sizes compared with the release's, then <source_path>/<dataset> is built in
our layout from symbolic links (datasets/prepare.py; each dataset module lists the layouts it accepts). Rerunning
on the same source changes nothing; an existing, different folder is never overwritten. Bad input: exit status 2
with what was wrong and what is expected.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from datasets import DEFAULT_SOURCE_PATH, REGISTRY  # noqa: E402  (our datasets package, not Hugging Face's)
from datasets.prepare import PreparableDataset, prepare  # noqa: E402
from utilities.errors import ConfigError  # noqa: E402

LOGGER = logging.getLogger("prepare_dataset")


def main(argv=None):
    preparable = {name: cls for name, cls in REGISTRY.items() if issubclass(cls, PreparableDataset)}
    accepted = "\n".join(f"{name}:\n" + "\n".join(f"  - {layout.describe()}" for layout in cls.SOURCE_LAYOUTS)
                         for name, cls in preparable.items())
    parser = argparse.ArgumentParser(
        description="Build <source_path>/<dataset> in this framework's layout, from links, out of the official "
                    "archive or folder or another codebase's layout (the emoji dataset has "
                    "scripts/prepare_emoji.py).",
        epilog=f"Accepted layouts:\n{accepted}", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(preparable))
    parser.add_argument("paths", nargs="+", type=Path, metavar="path",
                        help="archive(s), folder(s) or single files (e.g. cars_annos.mat) holding the dataset")
    parser.add_argument("--source_path", type=Path, default=DEFAULT_SOURCE_PATH,
                        help="the datasets folder; the dataset goes to <source_path>/<dataset> (default: "
                             "%(default)s)")
    parser.add_argument("--skip_count_check", action="store_true",
                        help="prepare a dataset whose sizes differ from the official release's (a warning instead "
                             "of an error)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepared = prepare(preparable[args.dataset], args.paths, args.source_path, args.skip_count_check)
    except ConfigError as error:
        LOGGER.error("%s", error)
        return 2
    print(prepared.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
