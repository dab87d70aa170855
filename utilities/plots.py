"""Progression plots of the per-epoch CSVs: one small panel per metric family instead of every column on one axis.

    plot_progression(rows, title, path)   draw `rows` and write a PNG to `path`
    build_figure(rows, title)             the same drawing as a matplotlib Figure (for inspection / tests)
    panel_layout(columns)                 ordered {panel: [columns]}, the grouping without any rendering
    metric_family(column)                 the panel one column goes to

`rows` is a list of dicts {"epoch": float, column: float, ...}, one per epoch, as CsvTable.rows() returns them;
values may be NaN (drawn as gaps) and a column missing from a row counts as NaN.

Panels, in this order (empty ones are left out):
  loss           loss, loss_<term>
  learning rate  lr, lr_<group>                          (log y axis; values <= 0 cannot be shown there)
  time           seconds, seconds_<what>
  recall         e_recall@k, c_recall@k
  clustering     nmi, c_nmi, f1, c_f1
  MAP            mAP_R, mAP_1000, mAP_lim, mAP_c, r_precision and their c_ variants
  distances      dists@intra, dists@inter, dists@intra_over_inter
  spectrum       rho_spectrum@k
  uncertainty    norm_auroc, norm_recall_spearman, logl@k and their c_ variants
  other          anything else

matplotlib is imported inside the functions that draw (Agg canvas, no pyplot state), so importing this module is
cheap.
"""
import math
import re

LOSS, LR, TIME = "loss", "learning rate", "time"
RECALL, CLUSTERING, MAP, DISTANCES, SPECTRUM, OTHER = "recall", "clustering", "MAP", "distances", "spectrum", "other"
UNCERTAINTY = "uncertainty"
PANEL_ORDER = (LOSS, LR, TIME, RECALL, CLUSTERING, MAP, DISTANCES, SPECTRUM, UNCERTAINTY, OTHER)
LOG_PANELS = frozenset({LR})

_BASE_FAMILIES = {
    "e_recall": RECALL, "c_recall": RECALL, "recall": RECALL,
    "nmi": CLUSTERING, "f1": CLUSTERING,
    "mAP_R": MAP, "mAP_1000": MAP, "mAP_lim": MAP, "mAP_c": MAP, "r_precision": MAP, "mARP": MAP,
    "dists": DISTANCES,
    "rho_spectrum": SPECTRUM,
    "norm_auroc": UNCERTAINTY, "norm_recall_spearman": UNCERTAINTY, "logl": UNCERTAINTY,
}
_PREFIX_FAMILIES = ((re.compile(r"^loss(_.+)?$"), LOSS),
                    (re.compile(r"^lr(_.+)?$"), LR),
                    (re.compile(r"^seconds(_.+)?$"), TIME))

_PANEL_INCHES = (4.6, 3.1)
_MAX_COLUMNS = 3
_MARKER_LIMIT = 60          # draw point markers up to this many epochs (a single epoch must stay visible)


def metric_family(column):
    """The panel name for one CSV column: 'e_recall@4' -> 'recall', 'c_mAP_R' -> 'MAP', 'lr_head' -> 'learning rate'."""
    for pattern, family in _PREFIX_FAMILIES:
        if pattern.match(column):
            return family
    base = column.split("@", 1)[0]
    if base in _BASE_FAMILIES:
        return _BASE_FAMILIES[base]
    if base.startswith("c_") and base[2:] in _BASE_FAMILIES:
        return _BASE_FAMILIES[base[2:]]
    return OTHER


def panel_layout(columns):
    """Ordered {panel: [columns]}: panels in PANEL_ORDER, columns in their given order; 'epoch' and empty panels
    left out, duplicate columns kept once."""
    groups = {}
    for column in columns:
        if column == "epoch":
            continue
        members = groups.setdefault(metric_family(column), [])
        if column not in members:
            members.append(column)
    return {panel: groups[panel] for panel in PANEL_ORDER if panel in groups}


def _columns(rows):
    columns = []
    for row in rows:
        for key in row:
            if key != "epoch" and key not in columns:
                columns.append(key)
    return columns


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _colours(count):
    """`count` distinct colours: tab10, then tab20, then evenly spaced samples of a wide colormap."""
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    cmap = colormaps["turbo"]
    return [cmap(0.05 + 0.9 * i / (count - 1)) for i in range(count)]


def _draw_panel(ax, panel, columns, epochs, rows):
    from matplotlib.ticker import MaxNLocator

    series = {column: [_number(row.get(column)) for row in rows] for column in columns}
    log_scale = panel in LOG_PANELS and any(v > 0 for values in series.values() for v in values if math.isfinite(v))
    marker = "o" if len(epochs) <= _MARKER_LIMIT else None
    for colour, column in zip(_colours(len(columns)), columns):
        values, label = series[column], column
        if log_scale and any(v <= 0 for v in values):
            values = [v if v > 0 else math.nan for v in values]
            label = f"{column} (values <= 0 not shown)"
        ax.plot(epochs, values, color=colour, marker=marker, markersize=3, linewidth=1.2, label=label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(panel, fontsize="medium")
    ax.set_xlabel("epoch", fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    finite = [e for e in epochs if math.isfinite(e)]
    if finite and max(finite) - min(finite) < 1:     # one epoch: widen, else the locator falls back to fractions
        ax.set_xlim(min(finite) - 1, max(finite) + 1)
    ax.tick_params(labelsize="x-small")
    ax.grid(alpha=0.3, which="major")
    if log_scale:
        ax.grid(alpha=0.12, which="minor")
    ax.legend(fontsize="x-small", ncol=2 if len(columns) > 4 else 1, framealpha=0.7)


def build_figure(rows, title):
    """The progression figure for `rows` (see the module docstring), or None when there is nothing to draw
    (no rows, or no column besides 'epoch'). A matplotlib Figure on an Agg canvas, independent of pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = list(rows)
    layout = panel_layout(_columns(rows))
    if not rows or not layout:
        return None
    epochs = [_number(row.get("epoch", index)) for index, row in enumerate(rows)]
    n_cols = min(_MAX_COLUMNS, len(layout))
    n_rows = math.ceil(len(layout) / n_cols)
    fig = Figure(figsize=(_PANEL_INCHES[0] * n_cols, _PANEL_INCHES[1] * n_rows + 0.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (panel, columns) in zip(axes, layout.items()):
        _draw_panel(ax, panel, columns, epochs, rows)
    for ax in axes[len(layout):]:
        fig.delaxes(ax)
    fig.suptitle(title)
    # Fixed margins in inches: tight_layout measures every text's extent and took half of each plot's time.
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.5 / height, top=1 - 0.7 / height,
                        wspace=0.7 / (_PANEL_INCHES[0] - 0.7), hspace=0.8 / (_PANEL_INCHES[1] - 0.8))
    return fig


def plot_progression(rows, title, path, dpi=90):
    """Draw `rows` (one dict per epoch) as one panel per metric family and write the PNG to `path`.
    Returns True when a file was written, False when there was nothing to draw (no rows / no metric columns)."""
    fig = build_figure(rows, title)
    if fig is None:
        return False
    fig.savefig(path, dpi=dpi)
    return True
