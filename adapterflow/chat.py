"""The chat format shared by training and inference.

The packaged Gemma 3 270M GGUF is a base model without a chat template, so when a tokenizer has
none we install Gemma's own turn format (`<start_of_turn>` / `<end_of_turn>` are in its
vocabulary). Training and evaluation both render prompts through `render_prompt`, so the two can
never drift apart.
"""

from __future__ import annotations

from typing import Any

# Gemma's turn format. System text is folded into the first user turn, as Gemma's own template does.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] ~ '\\n\\n' %}"
    "{% else %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' ~ role ~ '\\n' }}"
    "{% if message['role'] == 'user' %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ (message['content'] | trim) ~ '<end_of_turn>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
END_OF_TURN = "<end_of_turn>"


def ensure_chat_template(tokenizer: Any) -> Any:
    """Give `tokenizer` Gemma's turn template if it has no chat template of its own."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    return tokenizer


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text the model sees: every non-assistant turn, then the opening of its reply."""
    prompt_messages = [m for m in messages if m["role"] != "assistant"]
    return ensure_chat_template(tokenizer).apply_chat_template(
        prompt_messages, tokenize=False, add_generation_prompt=True
    )


def render_completion(target: str) -> str:
    """The text the model must produce after the prompt: the answer and the end-of-turn marker."""
    return f"{target}{END_OF_TURN}"
