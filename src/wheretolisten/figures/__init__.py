"""Figures of where the model listens: they draw what they are given and never run a model.

Matplotlib is the optional extra ``plot``; importing this package does not import it. Modules:
``style`` (matplotlib plumbing, deterministic files), ``signal`` (waveform and Whisper log-mel),
``localization`` (one clip, one or several queries), ``layers`` (Δ per layer, α sweep) and ``panels``
(the HTML report's figures); ``labels`` and ``marks`` hold what they share.
"""

from .labels import format_layers, is_queried, short_model_name
from .layers import draw_alpha_sweep, draw_layer_delta, layer_delta_title, plot_alpha_sweep, plot_layer_delta
from .localization import (
    LocalizationView,
    draw_localization,
    draw_queries,
    localization_title,
    plot_localization,
    plot_queries,
)
from .panels import (
    conditions_figure_png,
    draw_conditions,
    draw_position_breakdown,
    draw_result_row,
    draw_sweep,
    position_png,
    row_figure_axis,
    row_figure_png,
    row_title,
    sweep_png,
)
from .signal import LogMel, envelope, log_mel
from .style import (
    FORMATS,
    figure_bytes,
    figure_format,
    new_figure,
    plot_style,
    require_matplotlib,
    save_figure,
)

__all__ = [
    "FORMATS",
    "LocalizationView",
    "LogMel",
    "conditions_figure_png",
    "draw_alpha_sweep",
    "draw_conditions",
    "draw_layer_delta",
    "draw_localization",
    "draw_position_breakdown",
    "draw_queries",
    "draw_result_row",
    "draw_sweep",
    "envelope",
    "figure_bytes",
    "figure_format",
    "format_layers",
    "is_queried",
    "layer_delta_title",
    "localization_title",
    "log_mel",
    "new_figure",
    "plot_alpha_sweep",
    "plot_layer_delta",
    "plot_localization",
    "plot_queries",
    "plot_style",
    "position_png",
    "require_matplotlib",
    "row_figure_axis",
    "row_figure_png",
    "row_title",
    "save_figure",
    "short_model_name",
    "sweep_png",
]
