"""Scenes for the localization benchmark: sound banks, synthesis, the manifest, annotated imports.

``manifest`` holds the Event/Scene rows and their files, ``banks`` the labelled audio sources,
``procedural`` the built-in synthetic classes, ``speech`` spoken words (espeak-ng), ``debian`` the
recordings of installed Debian packages, ``options`` the scene layout, ``backgrounds`` what lies under
the events, ``synthesis`` the scene generator, ``annotations`` the import of annotated recordings and
``lookup`` the ground truth of any listed wav. This module re-exports.
"""

from __future__ import annotations

from .annotations import ImportReport, default_query, import_annotations, read_annotations, read_query_map
from .backgrounds import BABBLE_SENTENCES
from .bank_spec import get_bank
from .banks import Bank, ESC50Bank, FileBank, FolderBank, MixedBank, active_span
from .debian import AsteriskWordsBank, FreedesktopBank
from .manifest import (
    AUDIO_DIR_NAME,
    EVENTS_TSV_NAME,
    MANIFEST_NAME,
    POSITIONS,
    Event,
    Scene,
    load_manifest,
    position_name,
    write_manifest,
)
from .options import BACKGROUNDS, PLACEMENTS, SceneOptions
from .procedural import PROCEDURAL_CLASSES, ProceduralBank
from .speech import SPEECH_PHRASES, SPEECH_WORDS, SpeechBank
from .synthesis import make_scene, make_scenes, scene_seed

__all__ = [
    "AUDIO_DIR_NAME",
    "BABBLE_SENTENCES",
    "BACKGROUNDS",
    "EVENTS_TSV_NAME",
    "MANIFEST_NAME",
    "PLACEMENTS",
    "POSITIONS",
    "PROCEDURAL_CLASSES",
    "SPEECH_PHRASES",
    "SPEECH_WORDS",
    "AsteriskWordsBank",
    "Bank",
    "ESC50Bank",
    "Event",
    "FileBank",
    "FolderBank",
    "FreedesktopBank",
    "ImportReport",
    "MixedBank",
    "ProceduralBank",
    "Scene",
    "SceneOptions",
    "SpeechBank",
    "active_span",
    "default_query",
    "get_bank",
    "import_annotations",
    "load_manifest",
    "make_scene",
    "make_scenes",
    "position_name",
    "read_annotations",
    "read_query_map",
    "scene_seed",
    "write_manifest",
]
