"""What the Qwen-Omni thinkers (Qwen2.5-Omni, Qwen3-Omni) share: the thinker only, an audio-only processor,
module paths of two transformers layouts, and the positions of prompt suffixes on a shared prefix.

Only the thinker (audio encoder + text decoder) is loaded; a checkpoint's talker and vocoder are skipped.
For audio without image or video, the thinker's multimodal rotary positions (TMRoPE / interleaved mRoPE)
give every token the same position on the time, height and width axes, counting up by one per token from
the row's first real token: audio tokens are no exception. So a suffix after a prefix of ``n`` tokens
continues at positions ``n, n + 1, ...``; the suffix passes are given these positions explicitly (the
thinker would otherwise derive them from the attention mask, which also spans the cached prefix).
"""

from __future__ import annotations

from operator import attrgetter
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers import ProcessorMixin

from .base import Adapter

#: The processor's token attributes that the thinker's processor reads from its tokenizer.
TOKEN_NAMES = (
    "image_token",
    "audio_token",
    "video_token",
    "vision_bos_token",
    "vision_eos_token",
    "audio_bos_token",
    "audio_eos_token",
)

#: Stands in for the image and video processors, which need torchvision and never see audio; the only
#: things the audio path of the processor reads from them (transformers 5.17) are these.
NO_VISION = SimpleNamespace(merge_size=2, model_input_names=[])


class AudioOnlyProcessor:
    """Mixin that reduces a Qwen-Omni processor to tokenizer + feature extractor (+ chat template).

    The real processor class also holds image and video processors; the video one needs torchvision. The
    mixin keeps the real class's audio code (placeholder expansion, feature extraction) and drops the
    vision processors, so audio prompts need no torchvision. Put it first among the bases.
    """

    image_processor: Any = NO_VISION
    video_processor: Any = NO_VISION
    #: The family's special tokens by processor attribute (:data:`TOKEN_NAMES`), for a tokenizer that does
    #: not name them itself.
    tokens: ClassVar[dict[str, str]]

    def __init__(
        self, feature_extractor: Any = None, tokenizer: Any = None, chat_template: Any = None
    ) -> None:
        mixin = ProcessorMixin.__init__
        mixin(self, feature_extractor, tokenizer, chat_template=chat_template)  # type: ignore[arg-type]
        for name in TOKEN_NAMES:
            setattr(self, name, getattr(tokenizer, name, None) or self.tokens[name])
        for name in ("image_token", "audio_token", "video_token"):
            setattr(self, f"{name}_id", tokenizer.convert_tokens_to_ids(getattr(self, name)))


class QwenOmniAdapter(Adapter):
    """A Qwen-Omni thinker: audio placeholder between its delimiters, the instruction after it."""

    #: transformers >= 5.24 nests the thinker's parts under ``model``; 5.17 puts the text model at ``model``
    #: and the audio encoder on the thinker itself. The first path that exists is used.
    language_model_paths: ClassVar[tuple[str, ...]] = ("model.language_model", "model")
    audio_tower_paths: ClassVar[tuple[str, ...]] = ("model.audio_tower", "audio_tower")
    language_model_path: ClassVar[str] = language_model_paths[0]
    audio_tower_path: ClassVar[str] = audio_tower_paths[0]
    #: The processor class: the family's real processor with :class:`AudioOnlyProcessor` first.
    processor_class: ClassVar[type[AudioOnlyProcessor]]

    def _module(self, paths: tuple[str, ...], has: str | None = None) -> nn.Module:
        for path in paths:
            try:
                module = attrgetter(path)(self.model)
            except AttributeError:
                continue
            if isinstance(module, nn.Module) and (has is None or hasattr(module, has)):
                return module
        raise AttributeError(f"{type(self.model).__name__} has none of {', '.join(paths)}")

    @property
    def language_model(self) -> nn.Module:
        return self._module(self.language_model_paths, has="layers")

    @property
    def audio_tower(self) -> nn.Module:
        return self._module(self.audio_tower_paths)

    @classmethod
    def load_processor(cls, name: str, trust_remote_code: bool = False, **kwargs: Any) -> Any:
        """The checkpoint's tokenizer, feature extractor and chat template in the audio-only processor."""
        return cls.processor_class.from_pretrained(  # type: ignore[attr-defined]
            name, trust_remote_code=trust_remote_code, **kwargs
        )

    @property
    def audio_delimiters(self) -> tuple[str, str]:  # type: ignore[override]
        """The audio block's delimiters, around the expanded placeholder: the family's audio_bos and
        audio_eos tokens (:attr:`AudioOnlyProcessor.tokens`)."""
        tokens = self.processor_class.tokens
        return tokens["audio_bos_token"], tokens["audio_eos_token"]

    def messages(self, instruction: str) -> list[dict[str, Any]]:
        """The audio, then the instruction, in one user turn (after the family's system turn, if any)."""
        chat = super().messages(instruction)
        if self.system_prompt:
            chat.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return chat

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        # The processor pads text on the left unless told otherwise: pass the side explicitly.
        return self.processor(
            text=texts,
            audio=audios,
            sampling_rate=self.sample_rate,
            return_tensors="pt",
            padding=True,
            padding_side=self.tokenizer.padding_side,
        )

    def suffix_inputs(self, prefix_len: int, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Positions ``prefix_len, prefix_len + 1, ...`` for suffix rows (see the module docstring)."""
        rows, width = input_ids.shape
        positions = torch.arange(prefix_len, prefix_len + width, device=input_ids.device)
        return {"position_ids": positions[None].expand(rows, width)}

    def rotary_positions(self, position_ids: torch.Tensor) -> torch.Tensor:
        """The same positions on the time, height and width axes: [3, rows, seq]."""
        return position_ids[None].expand(3, -1, -1)

    @property
    def encoder_window_frames(self) -> int:
        """Mel frames per encoder window (``2 * n_window``): the unit the audio encoder works in."""
        return 2 * int(self.model.config.audio_config.n_window)

    @property
    def window_s(self) -> float:  # type: ignore[override]
        """One encoder window, in seconds (mel frames of 10 ms)."""
        hop = int(self.feature_extractor.hop_length)
        return self.encoder_window_frames * hop / self.sample_rate

    def clip_frames(self, n_samples: int) -> int:
        """Valid mel frames the processor gives a clip of ``n_samples`` samples."""
        hop = int(self.feature_extractor.hop_length)
        return -(-n_samples // hop)

    def window_frames(self, n_samples: int) -> list[int]:
        """Mel frames in each encoder window of the clip, in order (the last one may be short)."""
        frames, step = self.clip_frames(n_samples), self.encoder_window_frames
        return [min(step, frames - start) for start in range(0, max(frames, 1), step)]
