"""The monitoring report's charts: one thresholded metric over time, as PNG bytes identical for identical inputs."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

# The reports' chart conventions (embedded DejaVu, fixed sizes, PNG without a timestamp) live in reports.charts.
from reports import charts

COLOURS = {"green": "#2e8b57", "amber": "#e69500", "red": "#c0392b"}
NOT_JUDGED = "#9a9a9a"


def _utc(value: str) -> dt.datetime:
    """An ISO 8601 instant as a naive UTC datetime (what matplotlib's dates take); no offset is read as UTC."""
    moment = dt.datetime.fromisoformat(value)
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def metric_over_time(metric: str, description: str, points: list[dict[str, Any]], bounds: dict[str, float],
                     direction: str) -> bytes:
    """Each evaluation's worst value of one metric (x: when the evaluation was made, UTC), coloured as judged (grey
    and hollow where the evaluation had too few rows to be judged) and, up to 12 points, labelled with its id, against
    the plan's amber and red lines."""
    fig, ax = plt.subplots(figsize=(3.6, 2.3))
    moments = [_utc(p["at"]) for p in points]
    xs = [float(mdates.date2num(m)) for m in moments]
    ys = [float(p["value"]) for p in points]
    ax.plot(xs, ys, color="#9aa9bd", lw=0.8, zorder=1)
    few = len(points) <= 12
    for x, y, p in zip(xs, ys, points, strict=True):
        colour = COLOURS.get(p["colour"])
        ax.scatter([x], [y], s=22 if few else 9, zorder=3, color=colour or "white", edgecolors=colour or NOT_JUDGED,
                   linewidths=1.0)
        if few:  # more would overlap: the evaluations table below names every one
            ax.annotate(f"#{p['evaluation']}", (x, y), xytext=(0, 5), textcoords="offset points", ha="center",
                        fontsize=5.5, color="#555")
    for name in ("amber", "red"):
        if bounds.get(name) is not None:
            ax.axhline(float(bounds[name]), color=COLOURS[name], ls="--", lw=0.9, zorder=2)
    # Both lines and every point in view, with room above and below so none sits on the frame.
    span = [*ys, *(float(bounds[k]) for k in ("amber", "red") if bounds.get(k) is not None)]
    pad = 0.12 * (max(span) - min(span)) or 0.05 * (abs(max(span)) or 1.0)
    ax.set_ylim(min(span) - pad, max(span) + pad)
    if len(xs) == 1:
        ax.set_xlim(xs[0] - 1, xs[0] + 1)  # a day either side (date numbers count days)
    else:
        ax.margins(x=0.08)  # the first and last points' labels clear of the frame
    # Day and month (or the hour, within a day) on the ticks and the years in the axis label: matplotlib's offset
    # text ran into the legend.
    locator = mdates.AutoDateLocator(minticks=2, maxticks=4)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
        locator, formats=["%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M"], show_offset=False))
    first, last = min(moments).year, max(moments).year
    ax.set_xlabel(f"evaluation made (UTC), {first}" + (f" to {last}" if last != first else ""), fontsize=6.5)
    ax.tick_params(labelsize=6.5)
    ax.set_title("\n".join([metric, *textwrap.wrap(description, 56)]), fontsize=7)
    worse = "higher is worse" if direction == "above" else "lower is worse"
    ax.set_ylabel(f"worst value ({worse})", fontsize=6.5)
    handles = [Line2D([], [], color=COLOURS["amber"], ls="--", lw=0.9, label=f"amber {bounds.get('amber')}"),
               Line2D([], [], color=COLOURS["red"], ls="--", lw=0.9, label=f"red {bounds.get('red')}")]
    if any(not p["colour"] for p in points):
        handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="white", markeredgecolor=NOT_JUDGED,
                              label="not judged (too few rows)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=6, frameon=False)
    fig.tight_layout()
    return charts._png(fig)
