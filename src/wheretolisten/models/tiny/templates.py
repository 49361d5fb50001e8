"""The chat templates the tiny builders give their processors: the structure of each family's real
checkpoint's template (the real checkpoints ship their own; the runtime adapters read whatever the
processor holds)."""

from __future__ import annotations

#: ChatML's turn loop as the Qwen-style checkpoints open it: a default system turn unless the chat starts
#: with one, then each turn's ``<|im_start|>role`` line (shared by the templates below).
_CHATML_TURN_OPENING = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
)
#: ChatML's closing: the assistant turn's opening when a generation prompt is asked for (every ChatML
#: template below ends with it).
_CHATML_GENERATION_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


def _counted_audio_template(audio: str, others: str) -> str:
    """The Qwen ChatML template that counts audio items (``audio_count.value``): ``audio`` is what an
    audio item becomes, ``others`` the ``{% elif %}`` branches of the other item kinds."""
    return (
        "{% set audio_count = namespace(value=0) %}"
        + _CHATML_TURN_OPENING
        + (
            "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
            "{% else %}"
            "{% for content in message['content'] %}"
            "{% if content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
            "{% set audio_count.value = audio_count.value + 1 %}"
        )
        + audio
        + others
        + "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
        + _CHATML_GENERATION_PROMPT
    )


#: The structure of the Instruct checkpoint's chat template: "Audio N:" line with the audio block,
#: then the instruction, in the user turn.
QWEN2_AUDIO_CHAT_TEMPLATE = _counted_audio_template(
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n",
    "{% elif 'text' in content %}{{ content['text'] }}",
)

#: The structure of the -hf checkpoint's chat template: the <sound> placeholder leads the user turn,
#: whatever the order of the content items, and the instruction follows it directly.
AF3_CHAT_TEMPLATE = (
    _CHATML_TURN_OPENING
    + (
        "{% if message['content'] is string %}"
        "{{ message['content'] }}"
        "{% else %}"
        "{% for content in message['content'] %}"
        "{% if content['type'] == 'audio' %}<sound>{% endif %}"
        "{% endfor %}"
        "{% for content in message['content'] %}"
        "{% if content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
        "{% endfor %}"
        "{% endif %}"
        "<|im_end|>\n"
        "{% endfor %}"
    )
    + _CHATML_GENERATION_PROMPT
)

#: The structure of the -hf checkpoint's chat template: a system turn unless the chat starts with one,
#: then in the user turn <sound> (if any audio item) followed by the text items. The real checkpoint
#: ships its own system prompt; this template, used by tiny models only, has a short one.
MF_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are Music Flamingo, an assistant for music and language.<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages if message['content'] is not none %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% if message['content'] | selectattr('type', 'equalto', 'audio') | list %}<sound>{% endif %}"
    "{% for content in message['content'] if content['type'] == 'text' %}{{ content['text'] }}{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
) + _CHATML_GENERATION_PROMPT

#: The structure of the checkpoints' chat template (Qwen2-VL style): a default system turn, then each
#: content item in order; audio is ``<|audio_bos|><|AUDIO|><|audio_eos|>`` (optionally "Audio N: " first).
QWEN2_5_OMNI_CHAT_TEMPLATE = _counted_audio_template(
    "{% if add_audio_id %}Audio {{ audio_count.value }}: {% endif %}<|audio_bos|><|AUDIO|><|audio_eos|>",
    "{% elif content['type'] == 'image' or 'image' in content %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}",
)

#: The structure of the checkpoints' chat template (Qwen3 style): no default system turn; the user turn's
#: content items in order, audio as ``<|audio_start|><|audio_pad|><|audio_end|>``.
QWEN3_OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' or 'audio' in content %}<|audio_start|><|audio_pad|><|audio_end|>"
    "{% elif content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
) + _CHATML_GENERATION_PROMPT

#: The structure of the -it checkpoints' chat template: BOS, a system message folded into the first user
#: turn, content items in order (audio as the soft-token placeholder, text trimmed), "model" as the
#: assistant's role.
GEMMA3N_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' -%}{{ '<audio_soft_token>' }}"
    "{%- elif item['type'] == 'image' -%}{{ '<image_soft_token>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

#: The structure of the transformers-format checkpoint's chat template: ``<|role|>`` + content + ``<|end|>``,
#: content items in order (``<|audio|>`` for audio), no default system turn, ``<|assistant|>`` to generate.
PHI4MM_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<|image|>' }}"
    "{% elif content['type'] == 'audio' %}{{ '<|audio|>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)

__all__ = [
    "AF3_CHAT_TEMPLATE",
    "GEMMA3N_CHAT_TEMPLATE",
    "MF_CHAT_TEMPLATE",
    "PHI4MM_CHAT_TEMPLATE",
    "QWEN2_5_OMNI_CHAT_TEMPLATE",
    "QWEN2_AUDIO_CHAT_TEMPLATE",
    "QWEN3_OMNI_CHAT_TEMPLATE",
]
