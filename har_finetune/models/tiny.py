"""Tiny random CLIP, SigLIP and SigLIP 2 checkpoints, saved like the Hub's: the demo's and the tests' models.

They learn data/synthetic.py's images in seconds on a CPU; their numbers say the pipeline works, nothing about HAR.
"""

import io
import math
from pathlib import Path

from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPTokenizer,
    PreTrainedTokenizerBase,
    Siglip2Config,
    Siglip2ImageProcessor,
    Siglip2Model,
    Siglip2Tokenizer,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
    set_seed,
)

from har_finetune.core.defaults import HAR_CLASSES
from har_finetune.models.zero_shot import DEFAULT_TEMPLATES, prompts

TINY_IMAGE_SIZE = 32
_TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def prompt_corpus(classes: tuple[str, ...] = HAR_CLASSES) -> list[str]:
    """Every default zero-shot prompt of every class: what a tiny tokenizer must cover."""
    return prompts(list(classes), DEFAULT_TEMPLATES)


def make_tiny_tokenizer(model_type: str, out_dir: Path) -> PreTrainedTokenizerBase:
    """A tokenizer of the checkpoint's own class, with a small vocabulary learnt offline from `prompt_corpus()`.

    CLIP and SigLIP 2 tokenizers are `tokenizers` BPE models (retrained with `train_new_from_iterator`, which keeps
    each class's normaliser, pre-tokeniser and special tokens); SigLIP's is a SentencePiece model.
    """
    corpus = prompt_corpus()
    if model_type == "clip":
        return CLIPTokenizer().train_new_from_iterator([corpus], vocab_size=320)  # 256 byte symbols + merges
    if model_type == "siglip2":
        return Siglip2Tokenizer().train_new_from_iterator([corpus], vocab_size=100)
    import sentencepiece
    from transformers import SiglipTokenizer

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=100,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "spiece.model").write_bytes(model.getvalue())
    return SiglipTokenizer(str(out_dir / "spiece.model"))


def make_tiny_checkpoint(model_type: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random (seeded) CLIP / SigLIP / SigLIP 2 checkpoint (both towers), image processor, tokenizer.

    The text tower's vocabulary and special-token ids match the tokenizer; prompts are padded up to 64 tokens for
    SigLIP (models.FAMILIES), hence 64 positions.
    """
    if model_type not in ("clip", "siglip", "siglip2"):
        raise ValueError(f"unknown model_type {model_type!r}; expected clip, siglip or siglip2")
    out_dir = Path(out_dir)
    tokenizer = make_tiny_tokenizer(model_type, out_dir)
    eos = tokenizer.eos_token_id
    text = dict(
        _TINY_TOWER,
        vocab_size=len(tokenizer),
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
        eos_token_id=eos,
    )
    vision = dict(_TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=8)
    size = TINY_IMAGE_SIZE
    set_seed(seed)  # the same random weights every time: demo and test results repeat
    if model_type == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    elif model_type == "siglip":
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessor(size={"height": size, "width": size})
    else:
        vision = dict(_TINY_TOWER, num_patches=16, patch_size=8)
        model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision))
        processor = Siglip2ImageProcessor(patch_size=8, max_num_patches=16)
    if hasattr(model, "logit_bias"):  # random init leaves scale 1 and bias 0; real SigLIP: ~117 and ~-13
        model.logit_scale.data.fill_(math.log(10.0))
        model.logit_bias.data.fill_(-5.0)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
