"""Prepare the default `emoji` dataset: python scripts/prepare_emoji.py [--source_path data]

Downloads emoji-datasource-google@16.0.0 and emoji-datasource-twitter@16.0.0 with `npm pack` into
<source_path>/.cache/npm/ and builds <source_path>/emoji/: images/<NNNN_short_name>/<vendor>_<image>.png
(composited onto white, RGB) and classes.json. Classes, layout and the train/test split (alternating by
sort_order within each category) are documented in datasets/emoji.py.

Idempotent: a finished dataset (classes.json present, every image it lists on disk) is left untouched, downloaded
packages are reused and images already written are kept. Images are written under a temporary name and renamed,
and classes.json is written last, so an interrupted run resumes where it stopped.
"""
import argparse
import collections
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from datasets import DEFAULT_SOURCE_PATH  # noqa: E402  (our datasets package, not Hugging Face's)
from datasets.base import to_rgb  # noqa: E402
from datasets.emoji import assign_splits  # noqa: E402
from utilities.errors import ConfigError  # noqa: E402

LOGGER = logging.getLogger("prepare_emoji")

VERSION = "16.0.0"
VENDORS = ("google", "twitter")
PACKAGES = {f"emoji-datasource-{vendor}": VERSION for vendor in VENDORS}
MIN_IMAGES = 2  # an emoji with a single rendering has nothing to be retrieved with


def download(vendor, cache_dir):
    """The package tarball of `vendor`, fetched with `npm pack` unless already in `cache_dir`."""
    tarball = cache_dir / f"emoji-datasource-{vendor}-{VERSION}.tgz"
    if tarball.is_file():
        LOGGER.info("Using the downloaded %s", tarball)
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(
            "npm was not found on PATH. The emoji dataset is downloaded from the npm registry with `npm pack`: "
            "install Node.js with npm (https://nodejs.org) and rerun this script."
        )
    spec = f"emoji-datasource-{vendor}@{VERSION}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    LOGGER.info("Downloading %s with npm pack into %s", spec, cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as staging:  # a partial download never gets the final name
        result = subprocess.run(
            [npm, "pack", spec, "--pack-destination", staging, "--loglevel", "error"], capture_output=True, text=True
        )
        packed = list(Path(staging).glob("*.tgz"))
        if result.returncode != 0 or len(packed) != 1:
            raise ConfigError(
                f"`npm pack {spec}` failed (exit code {result.returncode}), so the emoji dataset cannot be "
                f"downloaded. Check that the npm registry is reachable. npm said: {result.stderr.strip()[-2000:]}"
            )
        os.replace(packed[0], tarball)
    return tarball


def stream(tarball):
    """Iterate `(member, file object)` over the regular files of a package tarball, in archive order."""
    try:
        with tarfile.open(tarball, "r|gz") as tar:  # one sequential pass: random access into a .tgz is slow
            for member in tar:
                if member.isfile():
                    yield member, tar.extractfile(member)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ConfigError(f"{tarball} is corrupt ({error}); delete it and rerun this script.") from error


def read_metadata(tarball):
    for member, file in stream(tarball):
        if member.name == "package/emoji.json":
            return json.load(file)
    raise ConfigError(f"{tarball} has no package/emoji.json; delete it and rerun this script.")


def plan_classes(emoji):
    """One class per emoji: its images are every vendor's rendering of the emoji and of its skin-tone variants.

    All emoji-datasource packages of one version ship the same emoji.json, with the has_img_<vendor> flags of
    every vendor, so one package's metadata plans both vendors.
    """
    classes, dropped = [], []
    for entry in sorted(emoji, key=lambda e: e["sort_order"]):
        variants = [entry] + list((entry.get("skin_variations") or {}).values())
        sources = [(vendor, v["image"]) for vendor in VENDORS for v in variants if v.get(f"has_img_{vendor}")]
        if len(sources) < MIN_IMAGES:
            dropped.append(entry["short_name"])
            continue
        classes.append({
            "folder": f"{entry['sort_order']:04d}_{re.sub(r'[^A-Za-z0-9_+-]', '_', entry['short_name'])}",
            "short_name": entry["short_name"],
            "unified": entry["unified"],
            "category": entry["category"],
            "sort_order": entry["sort_order"],
            "sources": sources,
        })
    if dropped:
        LOGGER.warning("Left out %d emoji with fewer than %d images: %s", len(dropped), MIN_IMAGES, dropped)
    for entry, split in zip(classes, assign_splits([(c["category"], c["sort_order"]) for c in classes])):
        entry["split"] = split
        entry["images"] = [f"{vendor}_{image}" for vendor, image in entry.pop("sources")]
    return classes


def write_images(vendor, tarball, targets):
    """Write the missing images of `targets` ({archive member name: output path}) from `tarball`."""
    todo = {name: path for name, path in targets.items() if not path.is_file()}
    LOGGER.info("%s: %d of %d images to write", vendor, len(todo), len(targets))
    if not todo:
        return
    with tqdm(total=len(todo), desc=f"{vendor} images", unit="img") as progress:
        for member, file in stream(tarball):
            path = todo.pop(member.name, None)
            if path is None:
                continue
            with Image.open(file) as image:
                rgb = to_rgb(image)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            rgb.save(partial, format="PNG")
            os.replace(partial, path)
            progress.update()
    if todo:
        raise ConfigError(f"{tarball} lacks {len(todo)} images that its emoji.json lists, e.g. {next(iter(todo))}.")


def finished_classes(dataset_dir):
    """The classes of a finished preparation of these packages, or None when it must (re)run."""
    try:
        info = json.loads((dataset_dir / "classes.json").read_text())
        complete = info["packages"] == PACKAGES and all(
            (dataset_dir / "images" / entry["folder"] / name).is_file()
            for entry in info["classes"] for name in entry["images"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info["classes"] if complete else None


def log_summary(classes):
    for split in ("train", "test"):
        chosen = [c for c in classes if c["split"] == split]
        LOGGER.info("%s: %d classes, %d images", split, len(chosen), sum(len(c["images"]) for c in chosen))
    counts = collections.Counter((c["category"], c["split"]) for c in classes)
    for category in dict.fromkeys(c["category"] for c in classes):
        LOGGER.info("  %-18s train %4d  test %4d", category, counts[category, "train"], counts[category, "test"])


def prepare(source_path):
    """Build <source_path>/emoji unless it is already complete; return its path."""
    source_path = Path(source_path)
    dataset_dir = source_path / "emoji"
    classes = finished_classes(dataset_dir)
    if classes is not None:
        LOGGER.info("%s is already prepared, nothing to do", dataset_dir)
        log_summary(classes)
        return dataset_dir
    cache_dir = source_path / ".cache" / "npm"
    tarballs = {vendor: download(vendor, cache_dir) for vendor in VENDORS}
    classes = plan_classes(read_metadata(tarballs[VENDORS[0]]))
    for vendor in VENDORS:
        targets = {
            f"package/img/{vendor}/64/{name[len(vendor) + 1:]}": dataset_dir / "images" / entry["folder"] / name
            for entry in classes for name in entry["images"] if name.startswith(f"{vendor}_")
        }
        write_images(vendor, tarballs[vendor], targets)
    partial = dataset_dir / "classes.json.part"
    partial.write_text(json.dumps({"packages": PACKAGES, "classes": classes}, indent=1))
    os.replace(partial, dataset_dir / "classes.json")
    LOGGER.info("Prepared %s", dataset_dir)
    log_summary(classes)
    LOGGER.info("The downloaded packages stay in %s for reruns; delete that folder to reclaim the space.", cache_dir)
    return dataset_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description="Download and prepare the emoji dataset (see datasets/emoji.py).")
    parser.add_argument(
        "--source_path", type=Path, default=DEFAULT_SOURCE_PATH,
        help="the datasets folder; the dataset goes to <source_path>/emoji (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepare(args.source_path)
    except ConfigError as error:
        LOGGER.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
