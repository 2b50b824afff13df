"""The report's figures (matplotlib's Agg canvas: no GUI, no pyplot state), written atomically."""

from __future__ import annotations

import functools
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from harness.analysis import Analysis, Claim, Decision
from harness.report.files import write_atomic
from harness.schema import Condition

PLOTS: dict[str, str] = {
    "primary": "plot_primary_effects.png",
    "position": "plot_accuracy_by_position.png",
    "shared_vs_fresh": "plot_shared_vs_fresh.png",
    "matrices": "plot_matrices.png",
}
"""PNG files written beside report.md."""
MAX_HEATMAPS = 24


def figure(width: float, height: float):
    """A matplotlib figure on the Agg canvas (no pyplot state, safe off the main thread), constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path: Path) -> None:
    """The figure as a PNG, written atomically."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _errorbar(ax, x: float, d, **kw) -> None:
    low, high = d.ci_low, d.ci_high
    err = [[d.effect - low], [high - d.effect]] if math.isfinite(low) else None
    ax.errorbar([x], [d.effect], yerr=err, fmt="D", color="black", capsize=4, **kw)


def plot_primary(path: Path, a: Analysis) -> None:
    """Q2-Q4 pooled over actors: one dot per seed, the mean with its 95 % t-interval."""
    fig = figure(6.5, 4.2)
    ax = fig.add_subplot()
    claims = [d for d in a.primary if d.has_single_effect]
    rng = np.random.default_rng(0)
    for i, d in enumerate(claims):
        values = d.values
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=14, alpha=0.6)
        if values.size:
            _errorbar(ax, i + 0.3, d)
    ax.axhline(0, color="grey", lw=0.8)
    for bound in (-a.min_effect, a.min_effect):
        ax.axhline(bound, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(claims)), [f"{d.claim} {d.claim.title.replace(' of X', '')}" for d in claims], fontsize=8)
    ax.set_ylabel(f"per-seed mean over actors ({a.metric}; positive = better)")
    ax.set_title("Primary effects (dots: seeds; diamond: mean, 95 % t-interval; dashed: ±min effect)", fontsize=9)
    save(fig, path)


def plot_position(path: Path, a: Analysis) -> None:
    """Q1: the metric on X right after training X, by position, per actor and pooled."""
    fig = figure(6.5, 4.2)
    ax = fig.add_subplot()
    items: list[Decision] = [d for d in (a.primary[0], *a.exploratory) if d.claim is Claim.Q1 and d.levels]
    items = [d for d in items if d.n > 0]
    for i, d in enumerate(items):
        x = np.arange(1, len(d.levels) + 1) + 0.05 * (i - (len(items) - 1) / 2)
        means = np.array([level.mean for _, level in d.levels])
        lows = np.array([level.low for _, level in d.levels])
        highs = np.array([level.high for _, level in d.levels])
        err = np.vstack([means - lows, highs - means]) if np.isfinite(lows).all() else None
        style = {"color": "black", "lw": 2} if not d.actor else {}
        ax.errorbar(x, means, yerr=err, marker="o", capsize=3, label=d.actor or "pooled", **style)
    if not items:
        _no_data(ax)
    else:
        ax.set_xticks(range(1, len(items[0].levels) + 1))
        ax.set_xlabel("position at which X is trained (stage)")
        ax.set_ylabel(f"{a.metric} on X right after training X")
        ax.set_title("By position (mean over seeds, 95 % t-interval)")
        ax.legend(fontsize="small")
    save(fig, path)


def plot_shared_fresh(path: Path, a: Analysis) -> None:
    pairs = a.pairs
    actors = list(dict.fromkeys(pairs["actor"])) if len(pairs) else []
    fig = figure(max(3.2 * len(actors), 4.0), 4.0)
    if not actors:
        _no_data(fig.add_subplot())
        save(fig, path)
        return
    axes = fig.subplots(1, len(actors), sharey=True, squeeze=False)[0]
    for ax, actor in zip(axes, actors, strict=True):
        sub = pairs[pairs["actor"] == actor].dropna(subset=[Condition.SHARED, Condition.FRESH])
        for _, r in sub.iterrows():
            colour = "tab:red" if r[Condition.SHARED] < r[Condition.FRESH] else "tab:blue"
            ax.plot([0, 1], [r[Condition.FRESH], r[Condition.SHARED]], marker="o", color=colour, alpha=0.6)
        ax.set_xticks([0, 1], [Condition.FRESH, f"{Condition.SHARED}\n(pos > 1)"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(actor, fontsize="small")
        if sub.empty:
            ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel(f"{a.metric} on the actor (one line per seed)")
    fig.suptitle("Shared vs fresh, paired by seed")
    save(fig, path)


def plot_matrices(path: Path, a: Analysis) -> None:
    mats = a.matrices
    names = list(mats)[:MAX_HEATMAPS]
    if not names:
        fig = figure(4, 3)
        _no_data(fig.add_subplot())
        save(fig, path)
        return
    ncols = min(3 if len(names) <= 9 else 6, len(names))
    nrows = math.ceil(len(names) / ncols)
    k = mats[names[0]].mean.shape[0]
    fig = figure(ncols * (1.2 + 0.9 * k), nrows * (0.9 + 0.8 * k))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    values = np.concatenate([mats[n].mean.to_numpy().ravel() for n in names])
    values = values[np.isfinite(values)]
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    image = None
    for ax, name in zip(axes, names, strict=False):
        mean = mats[name].mean
        image = ax.imshow(mean.to_numpy(float), vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(mean.shape[1]), [c[:14] for c in mean.columns], fontsize=6, rotation=30)
        ax.set_yticks(range(mean.shape[0]), [str(s) for s in mean.index], fontsize=7)
        ax.set_ylabel("stage", fontsize=7)
        ax.set_title(name.replace(">", " > "), fontsize=7)
        if k <= 5:
            for (i, j), v in np.ndenumerate(mean.to_numpy(float)):
                if np.isfinite(v):
                    colour = "white" if v < (vmin + vmax) / 2 else "black"
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(names)]), shrink=0.8, label=f"mean {a.metric}")
    save(fig, path)


@functools.cache
def _charmap(font_file: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(font_file).get_charmap())
    except (OSError, RuntimeError):  # a font file FreeType cannot open
        return frozenset()


@functools.cache
def _fallback_fonts(text: str) -> tuple[tuple[str, ...], str]:
    """Installed font families that draw the characters of ``text`` the default font lacks (matplotlib
    falls back from font to font per glyph), and the characters no installed font has. Matplotlib's
    "Last Resort" font, whose glyphs are placeholders for whole Unicode blocks, does not count."""
    from matplotlib import font_manager, rcParams

    default = _charmap(font_manager.findfont(font_manager.FontProperties(family=rcParams["font.family"])))
    missing = {c for c in text if not c.isspace() and ord(c) not in default}
    families: list[str] = []
    fonts = [font for font in font_manager.fontManager.ttflist if not font.name.startswith("Last Resort")]
    for entry in sorted(fonts, key=lambda font: font.name):
        covered = {c for c in missing if ord(c) in _charmap(entry.fname)}
        if covered:
            families.append(entry.name)
            missing -= covered
    return tuple(dict.fromkeys(families)), "".join(sorted(missing))


@contextmanager
def _fonts_for(names: tuple[str, ...]):
    """Draw ``names`` (the actors) with fallback fonts where the default lacks glyphs; characters no
    installed font has become one warning (then boxes in the plots), not one per glyph and figure."""
    from matplotlib import rc_context, rcParams

    families, missing = _fallback_fonts("".join(names))
    with rc_context({"font.family": [*rcParams["font.family"], *families]}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield
    if missing:
        warnings.warn(
            f"no installed font has the characters {missing} of the actor names, so the plots show them "
            "as boxes; install a font that has them (e.g. Noto Sans CJK for Chinese, Japanese, Korean)",
            stacklevel=3,
        )


def write_plots(run_dir: Path, a: Analysis) -> dict[str, str]:
    with _fonts_for(a.index.actors):
        plot_primary(run_dir / PLOTS["primary"], a)
        plot_position(run_dir / PLOTS["position"], a)
        plot_shared_fresh(run_dir / PLOTS["shared_vs_fresh"], a)
        plot_matrices(run_dir / PLOTS["matrices"], a)
    return dict(PLOTS)
