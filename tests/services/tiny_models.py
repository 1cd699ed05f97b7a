"""A tiny random causal LM built on the fly (no hub): exercises the real transformers load-and-generate path."""

from __future__ import annotations

from pathlib import Path

from platform_facts import project

__all__ = ["build_tiny_causal_lm"]

_TRAINING_TEXT = [
    f"{project.DISPLAY_NAME} serves embeddings, retrieval and chat completions on Ray Serve.",
    "The gateway checks every request before a model sees it.",
    "user: hello\nassistant: hi there, how can I help?",
]


def build_tiny_causal_lm(directory: Path) -> Path:
    """Save a 2-layer GPT-2 with seeded random weights and a byte-level BPE tokenizer to `directory`.

    Its generation config suppresses the end-of-text token: random weights would otherwise end a
    sampled reply early now and then, and the tests assert replies that run to the token limit."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_TRAINING_TEXT, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id]
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
