"""A protocol's scene sets as files hold them: each set's own scene options and bank, checked, and the
optional sets whose bank is not installed here. Torch-free, so the command line checks them before the
model loads."""

from __future__ import annotations

from dataclasses import fields, replace

from ..errors import DataError, OptionError
from ..scenes import Bank, get_bank
from ..scenes.options import SceneOptions
from ..scenes.synthesis import SCENE_RATE, check_request
from .protocol_file import Protocol, SceneSet, sets_of


def set_layout(spec: SceneSet) -> tuple[SceneOptions | None, str | None]:
    """A set's scene options and its own bank (the option ``bank``), checked: one OptionError line."""
    if not spec.options:
        return None, None
    given = dict(spec.options)
    bank = given.pop("bank", None)
    if bank is not None and (not isinstance(bank, str) or not bank.strip()):  # "" once meant the default
        raise OptionError(f"protocol: set {spec.name!r}: options.bank must be a bank name, got {bank!r}")
    known = {f.name for f in fields(SceneOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise OptionError(
            f"protocol: set {spec.name!r}: unknown scene option {unknown[0]!r} (options: "
            f"{', '.join(repr(k) for k in sorted(known | {'bank'}))})"
        )
    try:
        options = SceneOptions(**given)
        options.check(spec.events, spec.duration_s)
    except OptionError as exc:
        raise OptionError(f"protocol: set {spec.name!r}: {exc}") from None
    return options, bank


def runnable(protocol: Protocol) -> tuple[Protocol, dict[str, str]]:
    """The protocol without its optional sets whose bank cannot be loaded here, and why each was skipped
    (a set's bank is a Debian package that is not installed; a required set's missing bank raises)."""
    kept, skipped = [], {}
    for spec in protocol.tests:
        own_bank = set_layout(spec)[1]
        if own_bank and spec.optional:
            try:
                get_bank(own_bank)
            except DataError as exc:
                skipped[spec.name] = str(exc)
                continue
        kept.append(spec)
    if not kept:
        raise DataError("protocol: every test set is skipped: " + "; ".join(skipped.values()))
    return (replace(protocol, tests=tuple(kept)) if skipped else protocol), skipped


def check_layouts(protocol: Protocol) -> None:
    """Refuse a set whose scene options or own bank are wrong, or whose scenes its bank cannot make (more
    events than labels, a layout that does not fit: ``scenes.check_request``), one OptionError or
    DataError line; optional sets whose bank is not installed here are skipped, as the run skips them."""
    banks: dict[str, Bank] = {}
    for spec in sets_of(runnable(protocol)[0]):
        options, own_bank = set_layout(spec)
        name = own_bank or protocol.bank
        bank = banks.setdefault(name, get_bank(name))
        try:
            check_request(bank, spec.events, spec.duration_s, SCENE_RATE, options=options)
        except OptionError as exc:
            raise OptionError(f"protocol: set {spec.name!r}: {exc}") from None
