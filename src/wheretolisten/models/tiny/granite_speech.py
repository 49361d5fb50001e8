"""A tiny Granite Speech: conformer encoder, windowed Q-Former projector, Granite decoder, built offline.

The processor is the real ``GraniteSpeechProcessor`` around the offline BPE tokenizer with Granite's special
tokens and a chat template of the Granite 3.x structure, and the torch log-mel front end (80 mel bins,
pairs of frames stacked) in place of the torchaudio one.
"""

from __future__ import annotations

from typing import Any

from transformers import GraniteSpeechConfig, GraniteSpeechForConditionalGeneration, GraniteSpeechProcessor

from ...errors import ModelError
from ..granite_speech import WheretolistenGraniteSpeechFeatureExtractor
from .seeded import seeded_model
from .sizes import gqa_decoder, sizes
from .tokenizer import train_tokenizer

SPECIAL_TOKENS = ["<|end_of_text|>", "<|start_of_role|>", "<|end_of_role|>", "<|audio|>"]

#: The structure of the Granite 3.x template: role headers between <|start_of_role|> and <|end_of_role|>,
#: every turn closed by <|end_of_text|>; without a system message the real one writes a dated default.
GRANITE_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}"
    "{%- set system_message = 'Knowledge Cutoff Date: April 2024.\\nYou are Granite, developed by IBM.' %}"
    "{%- set loop_messages = messages %}"
    "{%- endif %}"
    "{{- '<|start_of_role|>system<|end_of_role|>' + system_message + '<|end_of_text|>\\n' }}"
    "{%- for message in loop_messages %}"
    "{{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + message['content']"
    " + '<|end_of_text|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_of_role|>assistant<|end_of_role|>' }}{%- endif %}"
)


def build_tokenizer() -> Any:
    """The offline BPE with Granite's special tokens; <|end_of_text|> ends turns and pads, as in Granite."""
    tok = train_tokenizer(SPECIAL_TOKENS)
    end = SPECIAL_TOKENS[0]
    tok.add_special_tokens({"eos_token": end, "pad_token": end, "bos_token": end})
    tok.chat_template = GRANITE_CHAT_TEMPLATE
    return tok


def tiny_config(
    vocab_size: int, audio_token_id: int, size: dict[str, int] | None = None
) -> GraniteSpeechConfig:
    """A few-MB config of the real architecture: 200-frame attention blocks, 15-frame windows of 3 queries,
    grouped-query attention and Granite's multipliers (attention scaled by 1 / head size, not its root)."""
    s = sizes(size)
    encoder = {
        "input_dim": 160,  # two stacked frames of 80 mel bins
        "num_layers": s["enc_layers"],
        "hidden_dim": s["enc_dim"],
        "num_heads": s["enc_heads"],
        "dim_head": s["enc_dim"] // s["enc_heads"],
        "feedforward_mult": 2,
        "output_dim": 8,
        "context_size": 200,
        "max_pos_emb": 512,
        "dropout": 0.0,
    }
    projector = {
        "model_type": "blip_2_qformer",
        "hidden_size": s["enc_dim"],
        "num_hidden_layers": 2,
        "num_attention_heads": s["enc_heads"],
        "intermediate_size": 2 * s["enc_dim"],
        "encoder_hidden_size": s["enc_dim"],
        "cross_attention_frequency": 1,
        "max_position_embeddings": 64,
    }
    text = gqa_decoder("granite", vocab_size, s)
    text.update(
        max_position_embeddings=4096,
        embedding_multiplier=12.0,
        attention_multiplier=s["heads"] / s["dim"],
        residual_multiplier=0.22,
        logits_scaling=8.0,
        tie_word_embeddings=True,
    )
    return GraniteSpeechConfig(
        text_config=text,
        encoder_config=encoder,
        projector_config=projector,
        audio_token_index=audio_token_id,
        has_lora_adapter=False,
        window_size=15,
        downsample_rate=5,
    )


def build_tiny_model(
    family: str, seed: int = 0, size: dict[str, int] | None = None, chunk_s: int = 30, tokenizer: Any = None
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed`` (``chunk_s`` has no meaning here)."""
    if family != "granite-speech":
        raise ModelError(f"this builder makes granite-speech models, not {family!r}")
    tok = tokenizer if tokenizer is not None else build_tokenizer()
    fe = WheretolistenGraniteSpeechFeatureExtractor()
    processor = GraniteSpeechProcessor(audio_processor=fe, tokenizer=tok, audio_token="<|audio|>")
    config = tiny_config(len(tok), tok.convert_tokens_to_ids("<|audio|>"), size)
    model = seeded_model(
        GraniteSpeechForConditionalGeneration, config, seed, tok.pad_token_id, tok.eos_token_id
    )
    return model, processor
