"""The direct condition asks the question the checkpoint declares (``direct_question`` in its
wheretolisten.json); unparsed answers are counted beside the hit rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli
from wheretolisten.bench.config import DIRECT_PROMPT, BenchConfig, checkpoint_question
from wheretolisten.errors import OptionError
from wheretolisten.organism import default_model_path


class _Checkpoint:
    """Only what the resolution reads: the checkpoint's recommended settings."""

    def __init__(self, recommended: dict[str, object]) -> None:
        self.recommended = recommended


def test_checkpoint_question_is_checked() -> None:
    assert checkpoint_question(_Checkpoint({})) is None  # type: ignore[arg-type]
    asked = checkpoint_question(_Checkpoint({"direct_question": "When is {query}?"}))  # type: ignore[arg-type]
    assert asked == "When is {query}?"
    with pytest.raises(OptionError, match="'direct_question' must be a string with \\{query\\}"):
        checkpoint_question(_Checkpoint({"direct_question": "When is {sound}?"}))  # type: ignore[arg-type]
    assert BenchConfig().question == DIRECT_PROMPT


@pytest.mark.slow
def test_default_direct_question_is_the_shipped_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On ``scenes make`` output the shipped model answers its own question: < 10 % unparsed (was 100 %);
    --direct-prompt still overrides it."""
    declared = json.loads((default_model_path() / "wheretolisten.json").read_text())["direct_question"]
    scenes = tmp_path / "scenes"
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--out", scenes, "--n", "10", "--no-progress"
    )
    assert code == 0, err
    for name, extra in (("own", []), ("given", ["--direct-prompt", DIRECT_PROMPT])):
        out = tmp_path / f"{name}.jsonl"
        code, _, err = run_cli(
            monkeypatch, capsys, "bench", "run", scenes, "--out", out, "--conditions", "direct",
            "--no-progress", *extra,
        )  # fmt: skip
        assert code == 0, err
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        prompt = {r["config"]["prompt"] for r in rows}
        unparsed = sum(bool(r.get("parse_failed")) for r in rows)
        if name == "own":
            assert prompt == {declared} and unparsed < 0.1 * len(rows)
            code, summary, err = run_cli(monkeypatch, capsys, "bench", "summary", out)
            assert code == 0 and "unparsed" in summary and f"| direct | {len(rows)} |" in summary
        else:
            assert prompt == {DIRECT_PROMPT}  # the question the model never learned: its answers do not parse
