"""Choose a sound bank from a command-line specification (built-in, a folder, ESC-50, or a mix)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import DataError
from .banks import Bank, ESC50Bank, FolderBank, MixedBank, SubsetBank
from .debian import AsteriskWordsBank, FreedesktopBank
from .procedural import ProceduralBank
from .speech import ENGINES, ESPEAK, SpeechBank

#: Banks named by a word: built in, or read from installed packages.
NAMED_BANKS: dict[str, Callable[[], Bank]] = {
    "procedural": ProceduralBank,
    "speech": SpeechBank,
    "asterisk-words": AsteriskWordsBank,
    "freedesktop": FreedesktopBank,
}


def _parse_folds(text: str, spec: str) -> list[int]:
    try:
        folds = [int(f) for f in text.split(",") if f.strip()]
    except ValueError as exc:
        raise DataError(f"bank {spec!r}: folds must be comma-separated integers, got {text!r}") from exc
    if not folds:
        raise DataError(f"bank {spec!r}: empty fold list")
    return folds


def _telephone(text: str, spec: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise DataError(f"bank {spec!r}: telephone= takes a probability in [0, 1], got {text!r}")
    return share


def _speech(spec: str) -> SpeechBank:
    """'speech' with its options in any order: ':telephone=P' and ':engines=espeak-ng,flite'."""
    options: dict[str, str] = {}
    for part in spec.split(":")[1:]:
        key, eq, value = part.partition("=")
        if not eq or key not in ("telephone", "engines") or key in options:
            raise DataError(f"bank {spec!r}: speech takes ':telephone=P' and ':engines=E,E', once each")
        options[key] = value
    engines = tuple(e.strip() for e in options.get("engines", ESPEAK).split(",") if e.strip())
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise DataError(f"bank {spec!r}: engines are among {', '.join(ENGINES)}")
    share = _telephone(options["telephone"], spec) if "telephone" in options else 0.0
    return SpeechBank(telephone_p=share, engines=engines)


def _folder(text: str, spec: str) -> str:
    """The folder of 'esc50:DIR' or 'folder:DIR', refused when empty (Path('') would be the current
    folder, read as a bank without being named)."""
    if not text.strip():
        kind = spec.split(":", 1)[0]
        raise DataError(f"bank {spec!r}: the folder is empty; give {kind}:DIR")
    return text


def _one_bank(spec: str) -> Bank:
    if not spec.strip():
        raise DataError(
            f"bank {spec!r} is empty: give {', '.join(repr(n) for n in NAMED_BANKS)}, 'esc50:DIR', "
            "'folder:DIR' or an existing directory"
        )
    if ":labels=" in spec:
        inner, labels = spec.rsplit(":labels=", 1)
        return SubsetBank(_one_bank(inner), [x.strip() for x in labels.split(",") if x.strip()])
    if spec in NAMED_BANKS:
        return NAMED_BANKS[spec]()
    if spec.startswith("speech:"):
        return _speech(spec)
    if spec.startswith("esc50:"):
        rest = spec[len("esc50:") :]
        if ":folds=" in rest:
            root, fold_text = rest.rsplit(":folds=", 1)
            return ESC50Bank(_folder(root, spec), folds=_parse_folds(fold_text, spec))
        return ESC50Bank(_folder(rest, spec))
    if spec.startswith("folder:"):
        return FolderBank(_folder(spec[len("folder:") :], spec))
    path = Path(spec)
    if path.is_dir():
        if (path / "meta" / "esc50.csv").is_file():
            return ESC50Bank(path)
        return FolderBank(path)
    raise DataError(
        f"unknown bank {spec!r}: expected {', '.join(repr(n) for n in NAMED_BANKS)}, "
        "'esc50:DIR[:folds=1,2]', or an existing directory (join several with '+')"
    )


def get_bank(spec: str) -> Bank:
    """A bank by name ('procedural', 'speech[:telephone=P][:engines=espeak-ng,flite]', 'asterisk-words',
    'freedesktop'),
    'esc50:DIR[:folds=1,2,3]', 'folder:DIR', or an existing directory (ESC-50 if it has
    meta/esc50.csv, else a label-folder bank); any of them followed by ':labels=a,b' keeps only those
    labels; several joined with '+' (e.g. 'procedural+speech') make one mixed bank."""
    if "+" in spec and not Path(spec).is_dir():
        parts = spec.split("+")
        if any(not part for part in parts):
            raise DataError(f"bank {spec!r}: empty part between '+' signs")
        return MixedBank([_one_bank(part) for part in parts])
    return _one_bank(spec)
