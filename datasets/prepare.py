"""Datasets as users already have them: the official archive or folder, or the layout another codebase expects
(Divide-and-Conquer's, Proxy-Anchor's). Shared by scripts/prepare_dataset.py and by the datasets themselves.

A dataset module lists its SOURCE_LAYOUTS: the files and folders (`Part`s) that identify each layout and how the
top-level entries of our layout map onto them (`SourceLayout.links`). `prepare()`
  1. extracts each archive once into <source_path>/.extracted/<dataset>/<archive name>/,
  2. recognises a layout in the given folders (or up to SEARCH_DEPTH levels below them); parts of one layout may
     also come from separate arguments (car_ims.tgz cars_annos.mat),
  3. loads it in place through the dataset's own loader, checks that every image the splits list exists and
     compares the split sizes with the release's (`RELEASE_SIZES`; a difference is an error unless
     skip_count_check),
  4. builds <source_path>/<dataset>/ from symbolic links to the source's folders, files or images (never copies),
     in a hidden staging folder renamed into place at the end.
An existing <source_path>/<dataset> is never changed: holding the same links it is left as it is (a rerun does
nothing); being the recognised source itself it is used in place; anything else is refused.

`PreparableDataset`: when <source_path>/<dataset> is not in our layout, the dataset looks for a source layout at
<source_path>/<dataset> and at the folder names the layouts usually have (<source_path>/CUB_200_2011, ...) and,
when exactly one is found, reads it in place, logging which.
"""
import dataclasses
import logging
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from datasets.base import DiskDataset, Split
from utilities.errors import ConfigError

LOGGER = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
# A layout is looked for in a given folder and up to two levels below it: <data root>/<dataset folder>/<part>,
# which also covers an archive whose single top folder holds the dataset (CUB_200_2011.tgz -> CUB_200_2011/).
SEARCH_DEPTH = 2
EXTRACTED = ".extracted"
EXTRACTED_MARKER = ".extracted_from"
EXAMPLES_SHOWN = 5  # missing files named in an error
PROGRESS_EVERY = 20000  # archive members between progress lines


@dataclasses.dataclass(frozen=True)
class Part:
    """A file or folder a source layout needs: the first of `paths` (relative to the layout's folder; "." is the
    folder itself) that exists and passes `check` (a callable on the path, for folders told apart by content)."""

    description: str
    paths: tuple
    is_dir: bool = False
    check: object = None

    def find(self, root, only=None):
        """The part's path under root, or None. only: a file given on its own, the one name that may match."""
        for relative in self.paths:
            if only is not None and relative != only:
                continue
            path = root / relative
            if (path.is_dir() if self.is_dir else path.is_file()) and (self.check is None or self.check(path)):
                return path
        return None

    def __str__(self):
        names = " or ".join("the folder itself" if p == "." else p + "/" * self.is_dir for p in self.paths)
        return f"{names} ({self.description})"


@dataclasses.dataclass(frozen=True)
class SourceLayout:
    """One form a dataset comes in.

    parts: {key: Part}. links: {entry of our layout (relative to <source_path>/<dataset>): key of the part it links
    to}. images_by_class, for a layout whose images are not in class folders: parts' paths -> {class folder name:
    [(file name, image path)]}; its images are linked one by one into images/<class folder name>/. check, optional:
    parts' paths -> [Count], for what the loader does not read (a list of every image of the release).
    folder_names: the names the layout's folder usually has, under which main.py looks for it in --source_path;
    empty means it is never read in place.
    """

    name: str
    parts: dict
    links: dict
    folder_names: tuple = ()
    images_by_class: object = None
    check: object = None

    def locate(self, root, only=None):
        """({key: path} of the parts found under root, [the Parts not found])."""
        found, missing = {}, []
        for key, part in self.parts.items():
            path = part.find(root, only)
            if path is None:
                missing.append(part)
            else:
                found[key] = path
        return found, missing

    def describe(self):
        return f"{self.name}: " + "; ".join(str(part) for part in self.parts.values())


@dataclasses.dataclass(frozen=True)
class Found:
    """A recognised source: its layout, {part key: path}, and where it is (root None: parts found apart)."""

    layout: SourceLayout
    paths: dict
    where: str
    root: Path = None


@dataclasses.dataclass(frozen=True)
class Count:
    """One size checked against the release's."""

    what: str
    found: int
    expected: int

    def __str__(self):
        return f"{self.what}: expected {self.expected:,}, found {self.found:,}"


class PreparableDataset(DiskDataset):
    """A benchmark that scripts/prepare_dataset.py prepares and that main.py reads in place from other layouts.

    Subclasses set SOURCE_LAYOUTS; OUR_PARTS, the top-level entries of our layout (all present: the folder is ours);
    RELEASE_SIZES, {split: (images, classes)} of the official release (None: not checked) and SPLIT_SOURCES,
    {split: what defines it}, for the messages. They read every file of our layout through `self.path(relative)`,
    which leads into the source read in place when there is one.
    """

    SOURCE_LAYOUTS = ()
    OUR_PARTS = ()
    RELEASE_SIZES = {}
    SPLIT_SOURCES = {}

    def __init__(self, source_path, found=None):
        self.found = found  # layout_error reads it, also while find_in_place looks
        super().__init__(source_path)

    def has_data(self):
        """Our folder, or a source layout read in place instead of a missing or partial one."""
        if self.found is None:
            self.found = self.find_in_place()
        return self.found is not None or self.root.is_dir()

    def find_in_place(self):
        """The one source layout at <source_path>/<dataset> or at a usual folder name, when ours is missing."""
        if all((self.root / part).exists() for part in self.OUR_PARTS):
            return None
        layouts = [layout for layout in self.SOURCE_LAYOUTS if layout.folder_names]
        folders = dict.fromkeys([self.root] + [self.source_path / name for layout in layouts
                                               for name in layout.folder_names])
        matches = {}
        for folder in filter(Path.is_dir, folders):
            for layout in layouts:
                paths, missing = layout.locate(folder)
                if not missing:
                    matches.setdefault(folder.resolve(), Found(layout, paths, str(folder), folder))
                    break
        if len(matches) > 1:
            listing = "; ".join(f"{found.where} ({found.layout.name})" for found in matches.values())
            raise self.layout_error(f"it is not in our layout, and several folders in other layouts could replace it: "
                                    f"{listing}. Prepare the one to use with scripts/prepare_dataset.py")
        if not matches:
            return None
        found = next(iter(matches.values()))
        LOGGER.info("%s: no %s in our layout; reading %s in place, as %s. `python scripts/prepare_dataset.py %s %s "
                    "--source_path %s` checks every image and links it into our layout.", self.registry_name,
                    self.root, found.where, found.layout.name, self.registry_name, found.where, self.source_path)
        return found

    def path(self, relative):
        """Where the file or folder `relative` of our layout is: under the root, or in the source read in place."""
        relative = str(relative)
        if self.found is not None:
            for ours, key in self.found.layout.links.items():
                if relative == ours or relative.startswith(ours + "/"):
                    return self.found.paths[key] / relative[len(ours) + 1:]
        return self.root / relative

    def layout_error(self, problem):
        if self.found is not None:
            problem = f"{problem} (reading {self.found.where} in place, as {self.found.layout.name})"
        layouts = "\n".join(f"  - {layout.describe()}" for layout in self.SOURCE_LAYOUTS)
        return ConfigError(
            f"{super().layout_error(problem)}\n`python scripts/prepare_dataset.py {self.registry_name} <archive or "
            f"folder> --source_path {self.source_path}` builds this layout, from links, out of:\n{layouts}"
        )

    def release_splits(self):
        """{split name: Split} whose sizes RELEASE_SIZES gives (same-set: train, test; else train, query, gallery)."""
        train, test = self.load()
        if isinstance(test, Split):
            return {"train": train, "test": test}
        return {"train": train, "query": test.query, "gallery": test.gallery}

    def split_label(self, name):
        return f"{name} ({self.SPLIT_SOURCES[name]})" if name in self.SPLIT_SOURCES else name

    def release_counts(self, splits):
        """[Count] of the splits against RELEASE_SIZES; classes are those with at least one image in the split."""
        counts = []
        for name, (images, classes) in self.RELEASE_SIZES.items():
            split = splits[name]
            if images is not None:
                counts.append(Count(f"{self.split_label(name)} images", len(split), images))
            if classes is not None:
                counts.append(Count(f"{self.split_label(name)} classes", len(np.unique(split.labels)), classes))
        return counts


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What prepare() did: action is 'linked', 'unchanged' (the same links were there) or 'in place'."""

    name: str
    target: Path
    found: Found
    splits: dict
    action: str

    def summary(self):
        done = {"linked": f"is ready in {self.target}, linked to",
                "unchanged": f"was already prepared in {self.target} from",
                "in place": "is read in place by main.py from"}[self.action]
        lines = [f"{self.name} {done} {self.found.where} ({self.found.layout.name}):"]
        lines += [f"  {name}: {len(np.unique(split.labels)):,} classes, {len(split):,} images"
                  for name, split in self.splits.items()]
        lines.append(f"Train with: python main.py --dataset {self.name} --source_path {self.target.parent}")
        return "\n".join(lines)


def prepare(dataset_class, inputs, source_path, skip_count_check=False):
    """Build <source_path>/<dataset> in our layout from `inputs` (archives, folders, single files); see the module
    docstring. Raises ConfigError, saying what was wrong and what is expected, on bad input."""
    name = dataset_class.registry_name
    source_path = Path(source_path)
    target = source_path / name
    inputs = [Path(path) for path in inputs]
    for path in inputs:
        if not path.exists():
            raise ConfigError(f"{path} does not exist: give the {name} archive or folder.")
    folders = [extract(path, source_path / EXTRACTED / name) if is_archive(path) else path for path in inputs]
    # Our own prepared folder, met while searching a data root, is not a source (unless given as one).
    exclude = None if target.resolve() in {folder.resolve() for folder in folders} else target.resolve()
    found = find_source(dataset_class, folders, exclude)
    LOGGER.info("Recognised %s in %s", found.layout.name, found.where)
    dataset = dataset_class(source_path, found=found)
    splits = dataset.release_splits()
    check_images_exist(dataset, splits)
    counts = dataset.release_counts(splits) + (found.layout.check(found.paths) if found.layout.check else [])
    check_counts(name, found, counts, skip_count_check)
    if found.root is not None and target.exists() and found.root.resolve() == target.resolve():
        LOGGER.info("%s is itself in that layout, which main.py reads in place: nothing to link.", target)
        return Prepared(name, target, found, splits, "in place")
    links = planned_links(found)
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()  # an empty folder holds nothing to overwrite
    if target.exists() or target.is_symlink():
        if existing_links(target) == links:
            LOGGER.info("%s already holds these links: nothing to do.", target)
            return Prepared(name, target, found, splits, "unchanged")
        raise ConfigError(
            f"{target} already exists and is not what {found.where} gives (the links to it that "
            f"scripts/prepare_dataset.py would write). An existing folder is never overwritten: move it away, or "
            f"prepare into another --source_path."
        )
    build_links(target, links)
    LOGGER.info("Linked %d entries of %s to %s", len(links), target, found.where)
    dataset_class(source_path).load()  # the prepared folder must load in our layout
    return Prepared(name, target, found, splits, "linked")


def is_archive(path):
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def extract(archive, extracted_root):
    """The folder holding the contents of `archive`, extracted on the first call only."""
    stem = next(archive.name[:-len(s)] for s in ARCHIVE_SUFFIXES if archive.name.lower().endswith(s))
    folder = extracted_root / stem
    stamp = f"{archive.resolve()} {archive.stat().st_size}\n"
    marker = folder / EXTRACTED_MARKER
    if marker.is_file():
        if marker.read_text() != stamp:
            raise ConfigError(f"{folder} holds the contents of another archive ({marker.read_text().strip()}); "
                              f"delete that folder to extract {archive} there.")
        LOGGER.info("Using %s, extracted from %s by an earlier run", folder, archive)
        return folder
    if folder.exists():
        raise ConfigError(f"{folder} exists but was not extracted by this script; move it away to extract {archive}.")
    extracted_root.mkdir(parents=True, exist_ok=True)
    staging = extracted_root / f".{stem}.partial"
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted extraction
    LOGGER.info("Extracting %s into %s (once: later runs reuse it)", archive, folder)
    try:
        staging.mkdir()
        unpack(archive, staging)
        (staging / EXTRACTED_MARKER).write_text(stamp)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def unpack(archive, destination):
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:  # extract() keeps every member inside destination
                zipped.extractall(destination, members=with_progress(zipped.infolist()))
        else:
            with tarfile.open(archive) as tar:
                # The "data" filter refuses absolute paths, paths leaving the folder, devices and such links.
                tar.extractall(destination, members=with_progress(tar), filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
        raise ConfigError(f"Cannot extract {archive}: {error}. Is the download complete? Download it again, or "
                          f"give the extracted folder instead.") from error


def with_progress(members):
    """The archive's members, logging every PROGRESS_EVERY: large archives take minutes."""
    for number, member in enumerate(members, start=1):
        if number % PROGRESS_EVERY == 0:
            LOGGER.info("  %d files extracted", number)
        yield member


@dataclasses.dataclass(frozen=True)
class _Root:
    """A folder a layout is looked for in; only: a file given on its own, the one name to look at."""

    path: Path
    only: str = None


def search_roots(path, exclude):
    """The folders to look for a layout in: `path` and its sub-folders down to SEARCH_DEPTH (hidden ones and
    `exclude` left out), or, for a file, its folder restricted to that file."""
    if path.is_file():
        return [_Root(path.parent, path.name)]
    roots, level = [], [path]
    for depth in range(SEARCH_DEPTH + 1):
        roots += [_Root(folder) for folder in level]
        if depth < SEARCH_DEPTH:
            level = [child for folder in level for child in sub_folders(folder)
                     if exclude is None or child.resolve() != exclude]
    return roots


def sub_folders(folder):
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(entry.path) for entry in entries if not entry.name.startswith(".") and entry.is_dir())
    except OSError:  # unreadable: nothing to find there
        return []


def find_source(dataset_class, folders, exclude=None):
    """The first of the dataset's SOURCE_LAYOUTS found, whole, in exactly one folder (or, with several arguments,
    with each part found in exactly one place); else a ConfigError naming what the closest candidate lacks."""
    per_argument = [search_roots(folder, exclude) for folder in folders]
    roots = [root for group in per_argument for root in group]
    for layout in dataset_class.SOURCE_LAYOUTS:
        matches = {}
        for root in roots:
            paths, missing = layout.locate(root.path, root.only)
            if not missing:
                matches.setdefault(root.path.resolve(), Found(layout, paths, str(root.path), root.path))
        if len(matches) > 1:
            raise ConfigError(f"{layout.name} is in several folders: "
                              f"{', '.join(found.where for found in matches.values())}. Give the one to use.")
        if matches:
            return next(iter(matches.values()))
    if len(folders) > 1:
        for layout in dataset_class.SOURCE_LAYOUTS:
            found = found_apart(layout, roots)
            if found is not None:
                return found
    raise ConfigError(no_layout_message(dataset_class, folders, roots))


def found_apart(layout, roots):
    """The layout with each part found in exactly one place among the roots, or None."""
    paths = {}
    for key, part in layout.parts.items():
        places = {path.resolve(): path for path in (part.find(root.path, root.only) for root in roots) if path}
        if len(places) != 1:
            return None
        paths[key] = next(iter(places.values()))
    return Found(layout, paths, ", ".join(dict.fromkeys(str(path) for path in paths.values())))


def no_layout_message(dataset_class, folders, roots):
    name = dataset_class.registry_name
    closest = None
    for layout in dataset_class.SOURCE_LAYOUTS:
        for root in roots:
            paths, missing = layout.locate(root.path, root.only)
            if paths and (closest is None or len(paths) > len(closest[2])):
                closest = (layout, root.path, paths, missing)
    message = f"No {name} layout found in {', '.join(map(str, folders))}."
    if closest is not None:
        layout, where, _, missing = closest
        message += (f"\nClosest: {layout.name} in {where}, which lacks "
                    f"{'; '.join(str(part) for part in missing)}.")
    layouts = "\n".join(f"  - {layout.describe()}" for layout in dataset_class.SOURCE_LAYOUTS)
    return (f"{message}\nAccepted layouts, each as a folder holding all its parts (given, or up to {SEARCH_DEPTH} "
            f"levels below what is given; archives are extracted first), or as separate arguments for its "
            f"parts:\n{layouts}")


def check_images_exist(dataset, splits):
    """Every image a split lists must exist (the loader itself checks one per list)."""
    for split_name, split in splits.items():
        missing = [path for path in split.paths if not os.path.isfile(path)]
        if missing:
            raise missing_images_error(f"{dataset.split_label(split_name)} split", missing, len(split))


def missing_images_error(listed_by, missing, total):
    examples = ", ".join(map(str, missing[:EXAMPLES_SHOWN]))
    return ConfigError(f"{len(missing):,} of the {total:,} images of the {listed_by} do not exist, e.g. {examples}. "
                       f"The download or extraction is incomplete: extract the whole archive (or download it again).")


def check_counts(name, found, counts, skip_count_check):
    """Compare the sizes with the release's: a difference is an error, or a warning with skip_count_check."""
    wrong = [count for count in counts if count.found != count.expected]
    if not wrong:
        LOGGER.info("%s: %d sizes checked against the release, all match.", name, len(counts))
        return
    listing = "\n".join(f"  {count}" for count in wrong)
    if skip_count_check:
        LOGGER.warning("%s from %s differs from the official release:\n%s\nPreparing it anyway "
                       "(--skip_count_check).", name, found.where, listing)
        return
    raise ConfigError(f"{name} from {found.where} differs from the official release:\n{listing}\nA download or "
                      f"extraction may be incomplete, or the files are of another version. Pass --skip_count_check "
                      f"to prepare it anyway.")


def planned_links(found):
    """{entry of our layout: the resolved path it links to}."""
    links = {ours: found.paths[key] for ours, key in found.layout.links.items()}
    if found.layout.images_by_class is not None:
        for class_name, images in found.layout.images_by_class(found.paths).items():
            links.update({f"images/{class_name}/{file_name}": path for file_name, path in images})
    return {relative: path.resolve() for relative, path in links.items()}


def existing_links(folder):
    """{relative path: resolved target} of the links under folder; None if it holds anything but links and folders."""
    links = {}
    for directory, sub_directories, files in os.walk(folder):  # symbolic links to folders are listed, not entered
        for entry in sub_directories + files:
            path = os.path.join(directory, entry)
            if os.path.islink(path):
                links[os.path.relpath(path, folder)] = Path(os.path.realpath(path))
            elif entry in files:
                return None
    return links


def build_links(target, links):
    """Create `target` holding the links, in a staging folder renamed at the end: no half-built target remains."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted run; it holds links only
    try:
        for relative, source in sorted(links.items()):
            link = staging / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, link)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
