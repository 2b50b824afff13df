"""Where the images come from: a folder of actor folders, or scikit-learn's LFW cache.

Both sources produce a ``Catalog``: every candidate file per actor and for the negatives,
sorted, so that what is drawn never depends on filesystem order.
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

LFW_DEFAULT_ACTORS = 3


@dataclass(frozen=True)
class Catalog:
    """Candidate files: one sorted list per chosen actor, and the negative pool."""

    root: Path
    actors: dict[str, list[Path]]
    negatives: list[Path]


def list_files(folder: Path) -> list[Path]:
    """Every non-hidden file below ``folder``, sorted by path; dangling links too, so they are counted as skipped.

    Symbolically linked sub-folders are followed, each real folder once: a folder reached again (a
    link loop, or two links to one folder) is not listed twice.
    """
    found, seen = [], set()
    for top, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))  # sorted: which link wins is fixed
        for name in files:
            path = Path(top, name)
            if not name.startswith(".") and (path.is_file() or (path.is_symlink() and not path.exists())):
                found.append(path)
    return sorted(found)


def choose_actors(requested: list[str] | None, available: list[str], where: Path) -> list[str]:
    """Check requested actor names against what exists; name the alternatives if not."""
    if not requested:
        return available
    if len(set(requested)) != len(requested):
        raise HarnessError(f"--actors lists an actor twice: {','.join(requested)}")
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
    return Catalog(
        root=data_dir,
        actors={actor: list_files(data_dir / actor) for actor in chosen},
        negatives=list_files(negatives),
    )


def lfw_folder(data_home: Path | None) -> Path:
    """The LFW image folder, downloaded by scikit-learn's fetcher if it is not cached yet."""
    from sklearn.datasets import get_data_home
    from sklearn.datasets._lfw import _check_fetch_lfw

    home = Path(get_data_home(str(data_home) if data_home else None))
    created = not (home / "lfw_home").exists()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its "Retry downloading" lines; the error below says it all
            _, folder = _check_fetch_lfw(data_home=str(home), funneled=True, download_if_missing=True)
    except Exception as error:  # any network or archive failure means the same to the user
        if created and (home / "lfw_home").is_dir() and not any((home / "lfw_home").iterdir()):
            (home / "lfw_home").rmdir()  # the fetcher made it, and nothing came
        raise HarnessError(
            f"LFW is not in {home / 'lfw_home'} and could not be downloaded ({type(error).__name__}); "
            "point --data-home or SCIKIT_LEARN_DATA at a folder holding lfw_home/, "
            "or use --dataset folder"
        ) from None
    return Path(folder)


def lfw_catalog(data_home: Path | None, actors: list[str] | None) -> Catalog:
    """LFW people as actors; the default actors are the people with most images."""
    folder = lfw_folder(data_home)
    people = {p.name: list_files(p) for p in sorted(folder.iterdir()) if p.is_dir()}
    if actors:
        chosen = choose_actors(actors, sorted(people), folder)
    else:
        by_count = sorted(people, key=lambda name: (-len(people[name]), name))
        chosen = by_count[:LFW_DEFAULT_ACTORS]
    negatives = [path for name, files in people.items() if name not in chosen for path in files]
    return Catalog(root=folder, actors={a: people[a] for a in chosen}, negatives=sorted(negatives))
