"""Where the images come from: a folder of actor folders, or scikit-learn's LFW cache.

Both sources produce a ``Catalog``: every candidate file per actor and for the negatives,
sorted, so that what is drawn never depends on filesystem order.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

LFW_DEFAULT_ACTORS = 3


NEGATIVES = "negatives"
"""The label of the negative pool (no actor may be named so)."""
OUTSIDE = "is a symbolic link to the data directory or a folder above it"
INSIDE = "is a symbolic link into another folder of the data directory"

Skipped = list[tuple[Path, str]]


@dataclass(frozen=True)
class Catalog:
    """Candidate files: one sorted list per chosen actor, and the negative pool; and per class (actor
    or ``NEGATIVES``) the symbolic links that were not followed, with the reason."""

    root: Path
    actors: dict[str, list[Path]]
    negatives: list[Path]
    refused: dict[str, Skipped] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """The files of one class folder, and the links in it that were not followed."""

    files: list[Path]
    refused: Skipped


def refusal(link: Path, root: str, own: str) -> str | None:
    """Why the link ``link`` in a class folder (real path ``own``) under the data root (real path
    ``root``) is not followed, or None: one to the root or above it would list every class (or the
    filesystem), one into another folder of the root would give that folder's images to this class."""
    target = os.path.realpath(link)
    if os.path.commonpath([target, root]) == target:
        return f"{OUTSIDE} (to {target}); remove the link"
    if os.path.commonpath([target, root]) == root and os.path.commonpath([target, own]) != own:
        return f"{INSIDE} (to {target}); each class's images belong in its own folder"
    return None


def list_class(folder: Path, root: Path) -> Listing:
    """Every non-hidden file below the class folder ``folder`` of the data root ``root``, sorted by
    path; dangling links too, so they are counted as skipped.

    Symbolic links (to folders or files) are followed, each real folder once: a folder reached again
    (a link loop, or two links to one folder) is not listed twice. A link to the data root or a
    folder above it, or into another folder of the root, is not followed but refused (``refusal``).
    """
    real_root = os.path.realpath(root)
    own = os.path.normpath(os.path.join(real_root, os.path.relpath(folder, root)))  # where it is, not its target
    found, refused, seen = [], [], set()
    if folder != root and folder.is_symlink() and (reason := refusal(folder, real_root, own)):
        return Listing([], [(folder, reason)])
    for top, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        kept = []
        for name in sorted(name for name in folders if not name.startswith(".")):  # sorted: which link wins is fixed
            path = Path(top, name)
            reason = refusal(path, real_root, own) if path.is_symlink() else None
            if reason:
                refused.append((path, reason))
            else:
                kept.append(name)
        folders[:] = kept
        for name in files:
            path = Path(top, name)
            if name.startswith("."):
                continue
            reason = refusal(path, real_root, own) if path.is_symlink() and path.exists() else None
            if reason:
                refused.append((path, reason))
            elif path.is_file() or (path.is_symlink() and not path.exists()):
                found.append(path)
    return Listing(sorted(found), sorted(refused))


def list_files(folder: Path) -> list[Path]:
    """The files of ``folder`` as a class folder of its own (``list_class`` with ``folder`` as the root)."""
    return list_class(folder, folder).files


def choose_actors(requested: list[str] | None, available: list[str], where: Path) -> list[str]:
    """Check requested actor names against what exists; name the alternatives if not. (The CLI's
    ``parse_actors`` has refused empty names and names given twice, naming the option.)"""
    if not requested:
        return available
    for actor in requested:
        if actor not in available:
            close = difflib.get_close_matches(actor, available, n=5)
            hint = (
                f"available actors: {', '.join(available)}"
                if len(available) <= 30
                else f"{len(available)} actors available; closest: {', '.join(close) or 'none'}"
            )
            raise HarnessError(f"unknown actor '{actor}' in {where}; {hint}")
    return list(requested)


def check_folder_name(name: str, data_dir: Path) -> None:
    """``--negatives-dir`` must name one folder inside the data directory: not empty, ``.``, ``..``,
    absolute or a path (any of which would make the data root or another folder the negative pool)."""
    separators = [os.sep, *([os.altsep] if os.altsep else [])]
    if name in ("", ".", "..") or any(separator in name for separator in separators):
        raise HarnessError(
            f"--negatives-dir {name!r} is not the name of a folder in {data_dir}; give one folder's name, "
            "e.g. --negatives-dir otherActors"
        )


def folder_catalog(data_dir: Path, negatives_dir: str, actors: list[str] | None) -> Catalog:
    """The original layout: ``DIR/<actor>/`` per actor and ``DIR/<negatives_dir>/``."""
    check_folder_name(negatives_dir, data_dir)
    if not data_dir.is_dir():
        raise HarnessError(
            f"--data-dir {data_dir} is not a directory; point it at a folder holding one folder "
            f"per actor and a '{negatives_dir}' folder"
        )
    negatives = data_dir / negatives_dir
    if not negatives.is_dir():
        raise HarnessError(
            f"no negatives folder '{negatives_dir}' in {data_dir}; create it or name another with --negatives-dir"
        )
    available = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and p.name != negatives_dir)
    available = [name for name in available if not name.startswith(".")]
    chosen = choose_actors(actors, available, data_dir)
    if not chosen:
        raise HarnessError(f"no actor folders in {data_dir} besides '{negatives_dir}'")
    listings = {actor: list_class(data_dir / actor, data_dir) for actor in chosen}
    listings[NEGATIVES] = list_class(negatives, data_dir)
    return Catalog(
        root=data_dir,
        actors={actor: listings[actor].files for actor in chosen},
        negatives=listings[NEGATIVES].files,
        refused={label: listing.refused for label, listing in listings.items() if listing.refused},
    )


def lfw_folder(data_home: Path | None) -> Path:
    """The LFW image folder, downloaded by scikit-learn's fetcher if it is not cached yet.

    The data home is scikit-learn's (``data_home``, else ``$SCIKIT_LEARN_DATA``, else
    ``~/scikit_learn_data``). When the download fails, the folders the fetcher created for it are
    removed again where they stayed empty; folders that existed before are left as they were.
    """
    from sklearn.datasets._lfw import _check_fetch_lfw

    home = Path(os.path.expanduser(data_home or os.environ.get("SCIKIT_LEARN_DATA", "~/scikit_learn_data")))
    lfw_home = home / "lfw_home"
    missing = [folder for folder in (lfw_home, home, *home.parents) if not folder.exists()]  # deepest first
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Retry downloading")  # its retries; the error below says it all
            _, folder = _check_fetch_lfw(data_home=str(home), funneled=True, download_if_missing=True)
    except Exception as error:  # any network or archive failure means the same to the user
        for created in missing:
            with contextlib.suppress(OSError):  # not empty (something came), or not ours to remove
                created.rmdir()
        raise HarnessError(
            f"LFW is not in {lfw_home} and could not be downloaded ({type(error).__name__}); "
            "point --data-home or SCIKIT_LEARN_DATA at a folder holding lfw_home/, "
            "or use --dataset folder"
        ) from None
    return Path(folder)


def lfw_catalog(data_home: Path | None, actors: list[str] | None) -> Catalog:
    """LFW people as actors; the default actors are the people with most images."""
    folder = lfw_folder(data_home)
    listings = {p.name: list_class(p, folder) for p in sorted(folder.iterdir()) if p.is_dir()}
    people = {name: listing.files for name, listing in listings.items()}
    if actors:
        chosen = choose_actors(actors, sorted(people), folder)
    else:
        by_count = sorted(people, key=lambda name: (-len(people[name]), name))
        chosen = by_count[:LFW_DEFAULT_ACTORS]
    negatives = [path for name, files in people.items() if name not in chosen for path in files]
    refused = {a: listings[a].refused for a in chosen if listings[a].refused}
    others = sorted(entry for name, listing in listings.items() if name not in chosen for entry in listing.refused)
    return Catalog(
        root=folder,
        actors={a: people[a] for a in chosen},
        negatives=sorted(negatives),
        refused=refused | ({NEGATIVES: others} if others else {}),
    )
