"""Voxtral (mistralai/Voxtral-Mini-3B-2507, Voxtral-Small-24B-2507): Whisper encoder + Llama-style decoder.

Time axis: 10-ms mel frames, the encoder's stride-2 conv gives 20-ms frames, and the projector stacks 4
consecutive encoder frames into one token: 80 ms per token (12.5 per second), 375 per 30-s window. The
processor pads every clip to whole 30-s windows and the model keeps the padding's tokens, so a clip's
first ceil(samples / 1280) audio tokens cover it and the rest of its last window covers silence.

Prompts come from mistral-common (the checkpoints ship a Tekken tokenizer, no Jinja chat template), which
also counts the audio tokens: ``pip install 'wheretolisten[voxtral]'``.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, ClassVar

import numpy as np
import soundfile as sf
from transformers import VoxtralConfig, VoxtralForConditionalGeneration

from .base import Adapter

#: The real checkpoints' audio placeholder id (the processor hard-codes it) and its opening delimiter.
AUDIO_TOKEN_ID = 24
BEGIN_AUDIO = "[BEGIN_AUDIO]"
#: A short silent clip: rendering a prompt without audio still needs one for mistral-common.
_SILENCE = np.zeros(1600, dtype=np.float32)


def wav_base64(audio: np.ndarray, sample_rate: int) -> str:
    """``audio`` as a base64 WAV of 32-bit floats (lossless), the way mistral-common takes audio."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="FLOAT")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class VoxtralAdapter(Adapter):
    """Voxtral: ``model.model.language_model.layers`` are the decoder layers; 30-s windows, up to 40 min."""

    family: ClassVar[str] = "voxtral"
    model_class: ClassVar[type] = VoxtralForConditionalGeneration
    #: 40 minutes: 80 windows of 375 tokens fill the 32k-token context the checkpoints were trained for.
    max_audio_s: ClassVar[float] = 2400.0
    token_s: ClassVar[float] = 0.08
    end_of_turn_token: ClassVar[str] = "[/INST]"
    #: The token mistral-common puts before the audio tokens.
    audio_delimiters: ClassVar[tuple[str, ...]] = (BEGIN_AUDIO,)
    checkpoints: ClassVar[tuple[str, ...]] = (
        "mistralai/Voxtral-Mini-3B-2507",
        "mistralai/Voxtral-Small-24B-2507",
    )

    #: Explicit module paths (never guessed from layer names): the decoder and the audio encoder.
    language_model_path: ClassVar[str] = "model.language_model"
    audio_tower_path: ClassVar[str] = "model.audio_tower"

    def _chat(self, instruction: str, audio_b64: str) -> list[dict[str, Any]]:
        """:meth:`messages` (the audio, then the instruction; no system prompt, as in the checkpoints' card)
        with the clip filled in."""
        chat = self.chat(instruction)
        chat[0]["content"][0]["base64"] = audio_b64
        return chat

    # ---- processor -------------------------------------------------------------------------------
    def _process(self, instructions: list[str], audios: list[np.ndarray]) -> Any:
        """mistral-common tokenizes each chat with its clip (and pads the clip); the processor adds the
        log-mel windows. A clip repeated in the batch is encoded to WAV once."""
        encoded: dict[int, str] = {}
        chats = []
        for instruction, audio in zip(instructions, audios, strict=True):
            if id(audio) not in encoded:
                encoded[id(audio)] = wav_base64(audio, self.sample_rate)
            chats.append(self._chat(instruction, encoded[id(audio)]))
        return self.processor.apply_chat_template(chats)

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        """Unused: Voxtral's processor takes audio only inside a chat (see :meth:`_process`)."""
        raise TypeError("VoxtralProcessor takes audio only through apply_chat_template")

    def prompt_ids(self, instruction: str, n_audio: int) -> list[int]:
        """mistral-common's tokens for the chat on a short silent clip, the audio run resized to n_audio."""
        chat = self._chat(instruction, wav_base64(_SILENCE, self.sample_rate))
        ids = list(self.tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"])
        audio = self.audio_token_id
        first = ids.index(audio)
        after = len(ids) - ids[::-1].index(audio)
        return ids[:first] + [audio] * n_audio + ids[after:]

    def render_prompt(self, instruction: str) -> str:
        """The prompt as mistral-common tokenizes it, with one ``[AUDIO]`` standing for the audio tokens."""
        text = self.tokenizer.decode(self.prompt_ids(instruction, 1), skip_special_tokens=False)
        assert isinstance(text, str)
        return text

    # ---- time axis -------------------------------------------------------------------------------
    @property
    def _token_samples(self) -> int:
        """Samples per token: the mel hop × the conv stride (2) × the encoder frames the projector stacks
        (it reads ``intermediate_size`` = frames × encoder width)."""
        audio = self.model.config.audio_config
        stack = int(audio.intermediate_size) // int(audio.hidden_size)
        return int(self.feature_extractor.hop_length) * 2 * stack

    @property
    def _window_tokens(self) -> int:
        """Tokens per window: the encoder's positions (1500 for 30 s) over the stacked frames."""
        audio = self.model.config.audio_config
        return int(audio.max_source_positions) // (int(audio.intermediate_size) // int(audio.hidden_size))

    def window_token_counts(self, n_samples: int) -> list[int]:
        """375 tokens for every 30-s window the clip starts, the padding of the last one included."""
        window = self._window_tokens * self._token_samples
        return [self._window_tokens] * max(1, math.ceil(n_samples / window))

    def clip_audio_tokens(self, n_samples: int) -> int:
        """Tokens that cover the clip: one per started 80 ms; the rest of the last window is padding."""
        return max(1, math.ceil(n_samples / self._token_samples))

    @classmethod
    def full_size_config(cls) -> Any:
        """Voxtral-Mini-3B-2507: transformers' defaults (Whisper-large encoder, 30-layer decoder), id 24."""
        return VoxtralConfig(audio_token_id=AUDIO_TOKEN_ID)
