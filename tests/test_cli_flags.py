"""The one table from library parameter names to CLI flags: library errors name parameters, the command
line prints its flags in the same sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten.audio import check_span
from wheretolisten.cli.flags import FLAGS, as_flags
from wheretolisten.errors import OptionError


def test_library_errors_name_parameters_and_the_cli_its_flags() -> None:
    with pytest.raises(OptionError) as caught:
        check_span(5.0, 2.0, 10.0, "x.wav")
    assert str(caught.value) == "start_s must be >= 0 and before end_s, got 5 and 2"
    assert as_flags(str(caught.value)) == "--start must be >= 0 and before --end, got 5 and 2"


def test_only_parameter_words_are_rewritten() -> None:
    """Words inside names, paths and plain English stay as they are."""
    assert (
        as_flags("restart_s.wav: the model out of memory; top_key")
        == "restart_s.wav: the model out of memory; top_key"
    )
    assert as_flags("pass overwrite=True to replace it") == "pass --overwrite to replace it"
    assert all(flag.startswith("--") for flag in FLAGS.values())


def test_the_cli_prints_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(3.0, seed=1), SR)
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", "--start", "2", "--end", "1")
    assert code == 2
    assert "--start must be >= 0 and before --end" in err and "start_s" not in err


def test_an_empty_value_is_found_whatever_its_form() -> None:
    """'--out ""', '--out=' and an empty argument are refused before any command runs; a value that holds
    or ends with '=' is not empty."""
    from wheretolisten.cli import empty_value

    assert empty_value(["localize", "a.wav", "--out="]) == "--out"
    assert empty_value(["localize", "a.wav", "-q", ""]) == "-q"
    assert empty_value(["localize", ""]) == "an argument"
    assert empty_value(["localize", "a.wav", "--query=a=", "--json", "x=y.json"]) is None
