"""The adapter contract: everything family-specific that the probe, steering and readout need to know."""

from __future__ import annotations

import inspect
from abc import ABC
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ModelError, over_limit_s
from .inputs import check_text, checked_clips, special_texts

if TYPE_CHECKING:
    from transformers import Cache

#: Both supported families emit one audio token per 40 ms (Whisper frames 10 ms, conv stride 2, avg-pool 2).
TOKEN_S = 0.04


def frames_to_tokens(n_frames: int) -> int:
    """Audio tokens produced from ``n_frames`` mel frames (conv stride 2, then pooling by 2)."""
    after_conv = (n_frames - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


def cache_param(function: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache``; the name ``function`` takes."""
    return "cache" if "cache" in inspect.signature(function).parameters else "past_key_values"


class Adapter(ABC):
    """One LALM family: its decoder layers, audio tower, audio token, prompt format and time axis.

    An adapter wraps a loaded transformers model and its processor. It never guesses module paths by
    name patterns: each family names them explicitly.
    """

    family: ClassVar[str]
    #: The ``config.model_type`` of the checkpoints this adapter loads: unless a subclass states it, that of
    #: the config of the ``model_class`` it names (see :meth:`__init_subclass__`).
    model_type: ClassVar[str]
    model_class: ClassVar[type]
    #: Longest clip the family accepts in one forward pass, in seconds.
    max_audio_s: ClassVar[float]
    #: Length of one encoder window in seconds (the Whisper front end's 30 s).
    window_s: ClassVar[float] = 30.0
    token_s: ClassVar[float] = TOKEN_S
    #: Seconds of audio one token summarizes when that is more than its ``token_s`` slot on the time axis
    #: (e.g. Q-Former queries that each read a whole window); None: ``token_s``.
    token_cover_s: ClassVar[float | None] = None
    system_prompt: ClassVar[str] = "You are a helpful assistant."
    #: The token that closes the user turn (the instruction ends before it).
    end_of_turn_token: ClassVar[str] = "<|im_end|>"
    #: Whether prompts may share one audio prefix's KV cache (``engine.SharedEngine``). A family whose
    #: decoder makes that unsound (e.g. positions that depend on the whole prompt) says False and runs
    #: every prompt whole.
    shared_prefix: ClassVar[bool] = True
    #: Whether a clip's audio tokens are the same alone and batched with longer clips. An encoder that sees
    #: the batch's padding is not; the engines batch prompts of one clip only, so only a caller that batches
    #: different clips itself (``encode``) meets this (``tests/test_families.py`` checks both ways).
    batch_invariant: ClassVar[bool] = True
    #: Hub ids of the real checkpoints this adapter serves (documentation and ``env``).
    checkpoints: ClassVar[tuple[str, ...]] = ()
    #: Other ``config.model_type`` values whose checkpoints this adapter loads: a composite checkpoint
    #: (e.g. an omni model with a speech talker) of which ``model_class`` is one part.
    checkpoint_model_types: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A family's ``model_type`` is its model class's config's: one fact, stated once."""
        super().__init_subclass__(**kwargs)
        if "model_class" in cls.__dict__ and "model_type" not in cls.__dict__:
            cls.model_type = str(cls.model_class.config_class.model_type)  # type: ignore[attr-defined]

    def __init__(self, model: Any, processor: Any, name: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        #: Settings the checkpoint recommends (``wheretolisten.json`` beside its weights), e.g. tuned
        #: steering layers and α under the key ``localize``; empty for ordinary checkpoints.
        self.recommended: dict[str, Any] = {}
        #: Queries already warned about as outside the checkpoint's declared vocabulary (one line each).
        self.warned_queries: set[str] = set()
        #: Whether an array given without its sample rate was warned about (once per model).
        self.warned_rate = False
        #: What tells these weights apart from others saved under the same name: the checkpoint folder's
        #: ``checkpoint.weights_fingerprint`` or the hub commit (set by ``load_model``; None for a model
        #: wrapped in memory, whose weights have no file).
        self.weights_id: str | None = None
        self._special_texts: tuple[str, ...] | None = None

    @property
    def computed_with(self) -> dict[str, str | None]:
        """The weights and the precision results of this model were computed with: results resumed or pooled
        must agree on them (the name alone does not tell other weights saved under it, nor float32 from
        bfloat16)."""
        return {"weights": self.weights_id, "dtype": str(self.dtype).removeprefix("torch.")}

    # ---- modules -------------------------------------------------------------------------------
    #: Attribute path from the model to its decoder-only language model (``layers`` below it).
    language_model_path: ClassVar[str]
    #: Attribute path from the model to its audio encoder.
    audio_tower_path: ClassVar[str]

    @property
    def language_model(self) -> nn.Module:
        """The decoder-only language model whose residual stream is probed and steered."""
        module = attrgetter(self.language_model_path)(self.model)
        assert isinstance(module, nn.Module)
        return module

    @property
    def audio_tower(self) -> nn.Module:
        """The audio encoder (never steered, and its layers are never counted as decoder layers)."""
        module = attrgetter(self.audio_tower_path)(self.model)
        assert isinstance(module, nn.Module)
        return module

    @property
    def decoder_layers(self) -> nn.ModuleList:
        """The language model's decoder layers, in order."""
        layers = self.language_model.layers
        assert isinstance(layers, nn.ModuleList)
        return layers

    def run_decoder(self, start: int, hidden: torch.Tensor, cache: Cache) -> torch.Tensor:
        """Run decoder layers ``start`` .. last on unpadded states entering ``start``; return the output.

        ``hidden`` is [rows, seq, hidden] at positions 0 .. seq-1 (a prompt prefix); each layer appends its
        keys and values to ``cache`` under its own index, so layers below ``start`` can be filled in from
        elsewhere (the shared prefix). Forward hooks on the layers fire as in a whole forward pass. This is
        the standard transformers decoder loop (rotary embeddings, one causal mask per layer type);
        a family whose decoder differs overrides it.
        """
        from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

        lm = self.language_model
        config = lm.config
        rows, seq = hidden.shape[:2]
        position_ids = torch.arange(seq, device=hidden.device)[None].expand(rows, seq)
        ones = torch.ones(rows, seq, dtype=torch.long, device=hidden.device)
        # No cache here: the mask is for a fresh sequence of ``seq`` tokens whatever ``cache`` holds.
        cache_name = cache_param(create_causal_mask)
        mask_kwargs = {
            "config": config,
            "inputs_embeds": hidden,
            "attention_mask": ones,
            cache_name: None,
            "position_ids": position_ids,
        }
        layer_types = self.layer_types
        masks = {"full_attention": create_causal_mask(**mask_kwargs)}
        if "sliding_attention" in layer_types:
            masks["sliding_attention"] = create_sliding_window_causal_mask(**mask_kwargs)
        rotary = lm.rotary_emb
        assert isinstance(rotary, nn.Module)
        position_embeddings = rotary(hidden, self.rotary_positions(position_ids))
        layers = self.decoder_layers
        layer_cache = cache_param(layers[0].forward)
        for index in range(start, self.num_layers):
            out = layers[index](
                hidden,
                attention_mask=masks[layer_types[index]],
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                use_cache=True,
                **{layer_cache: cache},
            )
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    @property
    def layer_types(self) -> list[str]:
        """Each decoder layer's attention, as the decoder picks its mask: ``full_attention``,
        ``sliding_attention`` (``sliding_window`` keys) or another kind (which the shared prefix refuses).

        The config's ``layer_types`` when it has them; else every layer slides when the config sets a
        ``sliding_window`` (the Mistral and Phi-3/4 convention), else none does. A family whose decoder reads
        its config otherwise overrides this.
        """
        config = self.language_model.config
        types = getattr(config, "layer_types", None)
        if types:
            return [str(t) for t in types]
        sliding = getattr(config, "sliding_window", None) is not None
        return ["sliding_attention" if sliding else "full_attention"] * self.num_layers

    def rotary_positions(self, position_ids: torch.Tensor) -> torch.Tensor:
        """What the language model's rotary embedding takes for [rows, seq] text positions (themselves,
        unless the family's rotary embedding wants more axes)."""
        return position_ids

    def layer_hidden(self, output: Any) -> torch.Tensor:
        """The residual stream [batch, seq, hidden] in a decoder layer's output: what is read and steered."""
        hidden = output[0] if isinstance(output, tuple) else output
        assert isinstance(hidden, torch.Tensor)
        return hidden

    def with_layer_hidden(self, output: Any, hidden: torch.Tensor) -> Any:
        """A decoder layer's ``output`` with ``hidden`` as its residual stream: how steering writes."""
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    @property
    def num_layers(self) -> int:
        return len(self.decoder_layers)

    @property
    def text_config(self) -> Any:
        """The language model's config (where its attention implementation is set)."""
        return self.model.config.text_config

    def set_text_attention(self, implementation: str) -> None:
        """Switch the language model's attention implementation; the audio tower keeps its own."""
        self.model.set_attn_implementation({"text_config": implementation})

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.language_model.parameters()).dtype

    # ---- tokens ----------------------------------------------------------------------------------
    @property
    def audio_token_id(self) -> int:
        return int(self.model.config.audio_token_id)

    @property
    def feature_extractor(self) -> Any:
        """The processor's audio front end (families whose processor names it otherwise override this)."""
        return self.processor.feature_extractor

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def end_of_turn_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(self.end_of_turn_token))

    #: The tokens the processor puts around the audio placeholders (none unless the family has some).
    audio_delimiters: ClassVar[tuple[str, ...]] = ()

    @property
    def audio_marker_ids(self) -> frozenset[int]:
        """Ids of the audio placeholder and its delimiters (the instruction starts after them)."""
        delimiters = list(self.audio_delimiters)
        ids = self.tokenizer.convert_tokens_to_ids(delimiters) if delimiters else []
        return frozenset({self.audio_token_id, *(int(i) for i in ids)})

    # ---- prompt ----------------------------------------------------------------------------------
    def messages(self, instruction: str) -> list[dict[str, Any]]:
        """The chat for one clip and one instruction: the audio, then the instruction, in one user turn; a
        family with another content order or a system turn overrides it."""
        return [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": instruction}]}]

    @property
    def special_texts(self) -> tuple[str, ...]:
        """The tokenizer's special tokens as text (``inputs.special_texts``), found once."""
        if self._special_texts is None:
            self._special_texts = special_texts(self.tokenizer)
        return self._special_texts

    def chat(self, instruction: str) -> list[dict[str, Any]]:
        """:meth:`messages` for ``instruction``, refused when it contains a special token (``<|AUDIO|>`` in a
        query added an audio token the processor could not fill, or silently shifted the audio block)."""
        check_text(instruction, self.special_texts, self.family)
        return self.messages(instruction)

    def render_prompt(self, instruction: str) -> str:
        """The prompt text, rendered with the processor's own chat template, ready for generation."""
        text = self.processor.apply_chat_template(
            self.chat(instruction), tokenize=False, add_generation_prompt=True
        )
        assert isinstance(text, str)
        return text

    def expand_audio(self, text: str, n_audio: int) -> str:
        """``text`` with its audio placeholder expanded to ``n_audio`` audio tokens, as the processor does."""
        token = self.tokenizer.convert_ids_to_tokens(self.audio_token_id)
        placeholder = getattr(self.processor, "audio_token", token)
        return text.replace(placeholder, placeholder * n_audio, 1)

    def encode(
        self, audios: Sequence[np.ndarray], instructions: Sequence[str], padding_side: str = "left"
    ) -> dict[str, torch.Tensor]:
        """Processor outputs for a batch of (clip, instruction) pairs, on the model's device and dtype.

        Clips are mono float arrays at the model's rate (``audio.from_array`` makes one of any layout, type
        and rate): anything else is one error (a stereo clip was counted as twice its length, int16 went
        unscaled into the features, NaN through them)."""
        clips = checked_clips(audios, instructions, self.sample_rate)
        for clip in clips:
            self.check_duration(clip.size / self.sample_rate)
        tok = self.tokenizer
        old_side = tok.padding_side
        tok.padding_side = padding_side
        try:
            batch = self._process(list(instructions), clips)
        finally:
            tok.padding_side = old_side
        out: dict[str, torch.Tensor] = {}
        for key, value in batch.items():
            if not isinstance(value, torch.Tensor) or key in self.unused_inputs:
                continue
            value = value.to(self.device)
            if value.is_floating_point():
                value = value.to(self.dtype)
            out[key] = value
        return out

    unused_inputs: ClassVar[frozenset[str]] = frozenset({"num_audio_tokens"})

    def _process(self, instructions: list[str], audios: list[np.ndarray]) -> Any:
        """Processor outputs for (instruction, clip) pairs: prompts rendered by the chat template, then the
        processor; a family whose processor takes audio only inside a chat overrides this."""
        return self._call_processor([self.render_prompt(i) for i in instructions], audios)

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        """Run the family's processor on rendered prompts and clips (padded PyTorch tensors); a family whose
        processor takes other keywords overrides it."""
        return self.processor(
            text=texts, audio=audios, sampling_rate=self.sample_rate, return_tensors="pt", padding=True
        )

    def prompt_ids(self, instruction: str, n_audio: int) -> list[int]:
        """Token ids of the whole prompt for ``instruction`` with ``n_audio`` audio tokens, from text alone
        (the shared prefix tokenizes each prompt without running the processor on the audio again)."""
        expanded = self.expand_audio(self.render_prompt(instruction), n_audio)
        return list(self.tokenizer(expanded)["input_ids"])

    # ---- time axis -------------------------------------------------------------------------------
    @property
    def max_audio_limit_s(self) -> float:
        """Longest clip this loaded model accepts (the family's limit unless its processor says less)."""
        return self.max_audio_s

    def check_duration(self, duration_s: float) -> None:
        """Refuse audio the model would silently truncate."""
        limit = self.max_audio_limit_s
        if duration_s > limit + 1e-9:
            raise ModelError(
                f"the audio is {over_limit_s(duration_s, limit)} s long, but {self.family} ({self.name}) "
                "accepts at most "
                f"{limit:g} s; cut the clip (e.g. into {self.window_s:g}-s pieces) first"
            )

    def window_token_counts(self, n_samples: int) -> list[int]:
        """Audio tokens per encoder window for a clip of ``n_samples`` samples, in order.

        The Whisper front end marks ceil(samples / hop) mel frames as valid in each 30-s window.
        """
        hop = int(self.feature_extractor.hop_length)
        window = int(round(self.window_s * self.sample_rate))
        counts = []
        for start in range(0, max(n_samples, 1), window):
            n = min(window, n_samples - start)
            counts.append(frames_to_tokens(-(-n // hop)))
        return counts

    def clip_audio_tokens(self, n_samples: int) -> int | None:
        """How many leading audio tokens cover the clip itself, for a family whose encoder pads the clip to
        whole windows and keeps tokens for the padding; None: every audio token covers the clip."""
        return None

    def time_axis(self, n_tokens: int) -> np.ndarray:
        """Start time in seconds of each audio token: token i covers [0.04 i, 0.04 (i + 1))."""
        return np.arange(n_tokens, dtype=np.float64) * self.token_s

    # ---- positions -------------------------------------------------------------------------------
    def audio_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Boolean [batch, seq] mask of audio placeholder tokens."""
        return input_ids == self.audio_token_id

    def instruction_span(self, input_ids: torch.Tensor) -> tuple[int, int]:
        """[start, end) of the user instruction in one row: after the audio block, before end-of-turn."""
        ids = input_ids.tolist()
        markers = self.audio_marker_ids
        last_audio = max((i for i, t in enumerate(ids) if t in markers), default=-1)
        if last_audio < 0:
            raise ModelError("no audio tokens in the prompt")
        start = last_audio + 1
        end = next((i for i in range(start, len(ids)) if ids[i] == self.end_of_turn_id), len(ids))
        # Skip whitespace-only tokens between the audio block and the instruction text.
        while start < end and not self.tokenizer.decode([ids[start]]).strip():
            start += 1
        if start >= end:
            raise ModelError("the prompt has no instruction text after the audio")
        return start, end

    @classmethod
    def load_processor(cls, name: str, trust_remote_code: bool = False, **kwargs: Any) -> Any:
        """The checkpoint's processor (``AutoProcessor``; ``kwargs`` e.g. ``local_files_only``); a family
        whose processor needs more than audio and text to load overrides it."""
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(name, trust_remote_code=trust_remote_code, **kwargs)

    def suffix_inputs(self, prefix_len: int, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra forward inputs for prompt suffixes that follow ``prefix_len`` cached prefix tokens.

        None by default (positions follow from the cache); a family whose model derives positions from the
        whole attention mask passes them here.
        """
        return {}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the family cannot run in this environment (e.g. a missing optional package), else None."""
        return None

    @classmethod
    def load_weights(cls, name: str, **kwargs: Any) -> Any:
        """The model of a checkpoint (``kwargs``: dtype, trust_remote_code); a family that needs more than
        ``model_class.from_pretrained`` (e.g. adapter weights stored beside the checkpoint) overrides it."""
        return cls.model_class.from_pretrained(name, **kwargs)  # type: ignore[attr-defined]

    @classmethod
    def full_size_config(cls) -> Any:
        """The config of the real checkpoint's architecture (transformers' defaults for the family), for
        instantiating it on the meta device without weights."""
        return cls.model_class.config_class()  # type: ignore[attr-defined]
