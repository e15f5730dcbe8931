"""Tiny random models with the real architectures' contracts, built offline in well under a second each.

Each builder writes a folder (or file) that the production loaders open exactly as they open real weights: an
ONNX file with IS-Net's input/output contract, diffusers SDXL / SD-1.5 inpainting pipelines (plus an SDXL
refiner), BLIP / LLaVA captioners with their processors, and the CLIP and OWL-ViT models of ``gen4gen eval``.
Tokenizers are written from small vocabularies made here, so nothing touches the network. The weights are
random: outputs have the right shapes and types, not meaning. Plugin authors can use them to test backends and
stages on the CPU.

Requires the ``neural`` extra (torch, diffusers, transformers, onnx for the ONNX builder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CLIP_BOS = "<|startoftext|>"
CLIP_EOS = "<|endoftext|>"
_WORDS = [
    *("a", "realistic", "photo", "of", "the", "in", "on", "with", "and", "next", "to"),
    *("dog", "cat", "cup", "lamp", "chair", "table", "garden", "room", "beach", "street"),
    *("blurry", "low", "quality", "cartoon", "red", "green", "blue", "wooden"),
]


def _byte_alphabet() -> list[str]:
    """The 256 printable characters byte-level BPE uses for the 256 byte values (GPT-2 / CLIP convention)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _bpe_word_merges(words: list[str], suffix: str) -> list[tuple[str, str]]:
    """Left-to-right merges that build each word from its characters (the last piece carries ``suffix``)."""
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in words:
        pieces = [*word[:-1], word[-1] + suffix]
        while len(pieces) > 1:
            merge = (pieces[0], pieces[1])
            if merge not in seen:
                seen.add(merge)
                merges.append(merge)
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
    return merges


def _vocab_from_merges(base: list[str], merges: list[tuple[str, str]], specials: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for token in [*base, *(a + b for a, b in merges), *specials]:
        vocab.setdefault(token, len(vocab))
    return vocab


def tiny_clip_tokenizer(folder: Path | None = None) -> Any:
    """A CLIP tokenizer (byte-level BPE, ``</w>`` word ends), small vocabulary; saved to ``folder`` if given."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    merges = _bpe_word_merges(_WORDS, "</w>")
    vocab = _vocab_from_merges(alphabet + [c + "</w>" for c in alphabet], merges, [CLIP_BOS, CLIP_EOS])
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer


def _tiny_gpt2_tokenizer(extra_specials: list[str]) -> Any:
    """A byte-level BPE tokenizer (GPT-2 style, ``Ġ`` marks a leading space) with a few special tokens."""
    from transformers import GPT2Tokenizer

    alphabet = _byte_alphabet()
    merges = _bpe_word_merges(["Ġ" + w for w in _WORDS], "")
    vocab = _vocab_from_merges(alphabet, merges, ["<|endoftext|>"])
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges, pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": extra_specials})
    return tokenizer


def _clip_text_config(hidden: int, projection: int, vocab_size: int) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_attention_heads=2,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        projection_dim=projection,
        hidden_act="gelu",
    )


def _tiny_vae() -> Any:
    """An AutoencoderKL with four blocks, so it downsamples by 8 like the real SD/SDXL VAE."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 16, 16],
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=64,
    )


def _tiny_unet(in_channels: int, cross_attention_dim: int, **extra: Any) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=(2, 4),
        cross_attention_dim=cross_attention_dim,
        use_linear_projection=True,
        **extra,
    )


def _sdxl_scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )


def build_tiny_sdxl_inpaint(folder: Path, seed: int = 0) -> Path:
    """A random SDXL inpainting pipeline (9-channel UNet, ``text_time`` conditioning, two CLIP text encoders)."""
    import torch
    from diffusers import StableDiffusionXLInpaintPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    vocab_size = len(tokenizer)
    time_dim, proj = 8, 16
    unet = _tiny_unet(
        9,
        cross_attention_dim=32,  # hidden size of text encoder 1 + text encoder 2
        transformer_layers_per_block=(1, 1),
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + proj,  # 6 size/crop ids + pooled text embedding
    )
    pipe = StableDiffusionXLInpaintPipeline(
        vae=_tiny_vae(),
        text_encoder=CLIPTextModel(_clip_text_config(16, proj, vocab_size)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(16, proj, vocab_size)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return Path(folder)


def build_tiny_sdxl_refiner(folder: Path, seed: int = 1) -> Path:
    """A random SDXL refiner: 4-channel UNet, one text encoder (the second), aesthetic-score conditioning."""
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    time_dim, proj = 8, 16
    unet = _tiny_unet(
        4,
        cross_attention_dim=16,
        transformer_layers_per_block=(1, 1),
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=5 * time_dim + proj,  # 4 size/crop ids + aesthetic score
    )
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=_tiny_vae(),
        text_encoder=None,
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(16, proj, len(tokenizer))),
        tokenizer=None,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return Path(folder)


def build_tiny_sd_inpaint(folder: Path, seed: int = 0) -> Path:
    """A random Stable Diffusion 1.5 inpainting pipeline (9-channel UNet, one CLIP text encoder, no checker)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    pipe = StableDiffusionInpaintPipeline(
        vae=_tiny_vae(),
        text_encoder=CLIPTextModel(_clip_text_config(32, 32, len(tokenizer))),
        tokenizer=tokenizer,
        unet=_tiny_unet(9, cross_attention_dim=32),
        scheduler=DDIMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return Path(folder)


def build_tiny_blip(folder: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A random BLIP captioning model with its processor (BERT word-piece tokenizer written here)."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    torch.manual_seed(seed)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = {token: i for i, token in enumerate([*specials, *_WORDS, *"abcdefghijklmnopqrstuvwxyz"])}
    tokenizer = BertTokenizer(vocab=vocab, model_max_length=64)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    config = BlipConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": image_size,
            "patch_size": 8,
        },
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "encoder_hidden_size": 32,
            "max_position_embeddings": 64,
            "bos_token_id": vocab["[DEC]"],
            "pad_token_id": vocab["[PAD]"],
            "sep_token_id": vocab["[SEP]"],
            "eos_token_id": vocab["[SEP]"],
        },
        projection_dim=32,
    )
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_tiny_llava(folder: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A random LLaVA-1.5-style model (CLIP vision tower + Llama decoder) with processor and chat template."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = _tiny_gpt2_tokenizer(["<image>"])
    patch = 8
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLS token of the vision tower
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


def build_tiny_isnet_onnx(path: Path, size: int = 1024, seed: int = 0) -> Path:
    """An ONNX file with IS-Net's contract: ``input_image`` (1, 3, size, size) -> sigmoid maps (1, 1, size, size).

    Like the real DIS export it has several side outputs; the first is the finest. A small random conv net at
    quarter resolution keeps it fast.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.5).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(8, np.float32), "b1")
    w2 = numpy_helper.from_array((rng.standard_normal((1, 8, 3, 3)) * 0.5).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.zeros(1, np.float32), "b2")
    scales = numpy_helper.from_array(np.array([1, 1, 4, 4], np.float32), "scales")
    nodes = [
        helper.make_node("AveragePool", ["input_image"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["c2", "", "scales"], ["up"], mode="linear"),
        helper.make_node("Sigmoid", ["up"], ["d1"]),
        helper.make_node("Neg", ["up"], ["neg"]),
        helper.make_node("Sigmoid", ["neg"], ["d2"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_isnet",
        [helper.make_tensor_value_info("input_image", TensorProto.FLOAT, [1, 3, size, size])],
        [
            helper.make_tensor_value_info("d1", TensorProto.FLOAT, [1, 1, size, size]),
            helper.make_tensor_value_info("d2", TensorProto.FLOAT, [1, 1, size, size]),
        ],
        initializer=[w1, b1, w2, b2, scales],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gen4gen")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def _clip_vision_config(config_cls: Any, image_size: int, patch_size: int, projection: int) -> Any:
    return config_cls(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=projection,
    )


def build_tiny_clip(folder: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A random CLIP (ViT image tower, text tower, projections) with its processor, like
    ``openai/clip-vit-base-patch32`` in miniature: same classes, same pre-processing steps, 77-token text."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPVisionConfig

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    projection = 16
    config = CLIPConfig(
        text_config=_clip_text_config(32, projection, len(tokenizer)).to_dict(),
        vision_config=_clip_vision_config(CLIPVisionConfig, image_size, 8, projection).to_dict(),
        projection_dim=projection,
    )
    model = CLIPModel(config).eval()
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


def build_tiny_owlvit(folder: Path, seed: int = 0, image_size: int = 64) -> Path:
    """A random OWL-ViT open-vocabulary detector with its processor, like ``google/owlvit-base-patch32`` in
    miniature: one box per image patch ((image_size / 16)² boxes), text queries of at most 16 tokens."""
    import torch
    from transformers import (
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
        OwlViTVisionConfig,
    )

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    tokenizer.model_max_length = 16
    projection = 32  # the class head maps image features to the text width: projection = text hidden size
    text = _clip_text_config(32, projection, len(tokenizer)).to_dict()
    text.update(max_position_embeddings=16, model_type="owlvit_text_model")
    vision = _clip_vision_config(OwlViTVisionConfig, image_size, 16, projection).to_dict()
    config = OwlViTConfig(text_config=text, vision_config=vision, projection_dim=projection)
    model = OwlViTForObjectDetection(config).eval()
    processor = OwlViTProcessor(
        image_processor=OwlViTImageProcessor(
            size={"height": image_size, "width": image_size},
            crop_size={"height": image_size, "width": image_size},
        ),
        tokenizer=tokenizer,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)
