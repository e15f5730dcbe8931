"""DreamBooth: folders and prompts as diffusers' DreamBooth and DreamBooth-LoRA example scripts read them::

    DIR/images/<stem>.png   RGB training images and nothing else: ``--instance_data_dir=DIR/images``
    DIR/metadata.jsonl      file_name, prompt (the training caption), sample_id, composition: with it DIR is a
                            Hugging Face dataset, ``--dataset_name=DIR --caption_column=prompt`` gives every image
                            its own caption (train_dreambooth_lora_sdxl.py, train_dreambooth_lora_flux.py, ...)
    DIR/README.md           the commands
    DIR/export.yaml

Stems are hex digits, as in the ``hf`` export, so no concept name can be taken for a split name.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from gen4gen.exporters.folder import FolderWriter, dataset_stem
from gen4gen.exporters.hf import METADATA
from gen4gen.sample import Sample


class DreamBoothWriter(FolderWriter):
    name = "dreambooth"
    owned = ("images",)

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.lines: list[str] = []
        self.instance_prompts: dict[str, str] = {}

    def add(self, sample: Sample) -> None:
        rel = self.place_rgb(self.source(sample.image, sample), f"images/{dataset_stem(sample)}")
        row = {
            "file_name": rel,
            "prompt": self.captions.caption(sample),
            "sample_id": sample.id,
            "composition": sample.composition,
        }
        self.lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        if sample.composition not in self.instance_prompts:
            concepts = self.captions.sample_concepts(sample)
            prompt = "a photo of " + " and ".join(c.phrase for c in concepts)
            glob = self.captions.global_token
            self.instance_prompts[sample.composition] = f"{glob} {prompt}" if glob else prompt
        self.count += 1

    def close(self) -> list[Path]:
        root = self.out_dir.resolve()
        self.put_text(METADATA, "".join(self.lines))
        prompts = "\n".join(f"- `{c}`: `{p}`" for c, p in self.instance_prompts.items())
        one = next(iter(self.instance_prompts.values()), "a photo of")
        readme = README.format(
            dir=shlex.quote(str(root)),
            images=shlex.quote(str(root / "images")),
            prompt=shlex.quote(one),
            prompts=prompts or "- (no samples)",
        )
        self.put_text("README.md", readme)
        return self.finish(instance_prompts=self.instance_prompts)


README = """\
# gen4gen dataset (DreamBooth)

`images/` holds the RGB training images only; `metadata.jsonl` gives each its own caption (column `prompt`).

One caption per image (DreamBooth-LoRA scripts that read a dataset: `train_dreambooth_lora_sdxl.py`,
`train_dreambooth_lora_flux.py`, `train_dreambooth_lora_sd3.py`):

```bash
accelerate launch train_dreambooth_lora_sdxl.py \\
  --pretrained_model_name_or_path=stabilityai/stable-diffusion-xl-base-1.0 \\
  --dataset_name={dir} --image_column=image --caption_column=prompt \\
  --instance_prompt={prompt} \\
  --resolution=1024 --train_batch_size=1 --gradient_accumulation_steps=4 --learning_rate=1e-4 \\
  --lr_scheduler=constant --lr_warmup_steps=0 --max_train_steps=1000 --mixed_precision=fp16 \\
  --output_dir=gen4gen-dreambooth-lora
```

One prompt for every image (`train_dreambooth.py`, `train_dreambooth_lora.py`), best with one composition per
export:

```bash
accelerate launch train_dreambooth.py \\
  --pretrained_model_name_or_path=stable-diffusion-v1-5/stable-diffusion-v1-5 \\
  --instance_data_dir={images} --instance_prompt={prompt} \\
  --resolution=512 --train_batch_size=1 --learning_rate=5e-6 --max_train_steps=800 \\
  --output_dir=gen4gen-dreambooth
```

Instance prompt of each composition:

{prompts}

DreamBooth learns a rare word that the tokenizer already knows (set `export.tokens` to e.g. `{{cat: "sks cat"}}`);
`<new1>`-style tokens are for trainers that add tokens (Custom Diffusion, textual inversion).
"""
