"""``wheretolisten explore``: a small local web app to try queries on your audio and hear the result.

A standard-library HTTP server bound to 127.0.0.1 (no extra to install): drop in a file or pick one given
on the command line, type queries, change the layers and α, and see and play the page of the run
(``wheretolisten.page``). Modules: ``session`` (the model, the audio files and the runs), ``server`` (the
HTTP routes and the app's page).
"""

from .server import ExploreServer, serve
from .session import Explorer

__all__ = ["ExploreServer", "Explorer", "serve"]
