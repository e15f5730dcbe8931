"""kohya-ss sd-scripts: DreamBooth-style folders with one caption file per image, and a dataset config::

    DIR/img/<repeats>_<composition>/<id>.png       the samples
    DIR/img/<repeats>_<composition>/<id>.caption   one line: the training caption (kohya's default extension)
    DIR/mask/<repeats>_<composition>/<id>.png      union masks at the image's size, for --masked_loss (with
                                                   export.kohya_masks)
    DIR/dataset.toml                               --dataset_config: one subset per composition, absolute paths
    DIR/README.md, export.yaml

``--train_data_dir=DIR/img`` works too (kohya reads the repeats from the folder names). The masks are the
subsets' ``conditioning_data_dir``, where sd-scripts' masked loss reads them (same stem as the image).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from gen4gen.exporters.folder import FolderWriter, file_safe, mask_png
from gen4gen.geometry.masks import union
from gen4gen.sample import Sample

CAPTION_EXTENSION = ".caption"


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, plus DEL)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


class KohyaWriter(FolderWriter):
    name = "kohya"
    owned = ("img", "mask")

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.subsets: dict[str, int] = {}  # folder -> images
        self.resolution = 0

    def add(self, sample: Sample) -> None:
        repeats = self.settings.kohya_repeats
        folder = f"{repeats}_{file_safe(sample.composition, 'composition')}"
        stem = self.unique_stem(sample, within=folder)
        self.place_rgb(self.source(sample.image, sample), f"img/{folder}/{stem}")
        self.put_text(f"img/{folder}/{stem}{CAPTION_EXTENSION}", self.captions.caption(sample) + "\n")
        if self.settings.kohya_masks:
            self.put_bytes(f"mask/{folder}/{stem}.png", mask_png(union(self.masks(sample)), sample.size))
        self.subsets[folder] = self.subsets.get(folder, 0) + 1
        self.resolution = max(self.resolution, *sample.size)
        self.count += 1

    def dataset_toml(self) -> str:
        root = self.out_dir.resolve()
        lines = [
            "# kohya-ss sd-scripts dataset config (written by gen4gen): --dataset_config=<this file>",
            "[general]",
            f"caption_extension = {toml_string(CAPTION_EXTENSION)}",
            "shuffle_caption = false",
            "keep_tokens = 0",
            "",
            "[[datasets]]",
            f"resolution = {self.resolution or 512}",
            "batch_size = 1",
        ]
        for folder in self.subsets:
            lines += [
                "",
                "  [[datasets.subsets]]",
                f"  image_dir = {toml_string(str(root / 'img' / folder))}",
                f"  num_repeats = {self.settings.kohya_repeats}",
                f"  caption_extension = {toml_string(CAPTION_EXTENSION)}",
            ]
            if self.settings.kohya_masks:
                lines.append(f"  conditioning_data_dir = {toml_string(str(root / 'mask' / folder))}")
        return "\n".join(lines) + "\n"

    def close(self) -> list[Path]:
        root = self.out_dir.resolve()
        self.put_text("dataset.toml", self.dataset_toml())
        command = [
            "accelerate launch --num_cpu_threads_per_process 1 train_network.py",
            "--pretrained_model_name_or_path=stable-diffusion-v1-5/stable-diffusion-v1-5",
            f"--dataset_config={shlex.quote(str(root / 'dataset.toml'))}",
            f"--output_dir={shlex.quote(str(root / 'model'))} --output_name=gen4gen",
            "--network_module=networks.lora --network_dim=16 --network_alpha=8",
            "--learning_rate=1e-4 --max_train_epochs=10 --mixed_precision=fp16 --save_model_as=safetensors",
        ]
        if self.settings.kohya_masks:
            command.append("--masked_loss")
        text = " \\\n  ".join(command)
        self.put_text("README.md", README.format(command=text, repeats=self.settings.kohya_repeats))
        extra: dict[str, Any] = {"subsets": self.subsets, "repeats": self.settings.kohya_repeats, "command": text}
        return self.finish(**extra)


README = """\
# gen4gen dataset (kohya-ss sd-scripts)

`img/{repeats}_<composition>/`: each image with a same-stem `.caption` file (one line, the training caption);
`dataset.toml` lists the folders with absolute paths (re-export after moving this folder). With masks
(`export.kohya_masks=true`), `mask/` holds the union mask of every image for `--masked_loss`.

```bash
{command}
```

For SDXL use `sdxl_train_network.py` with
`--pretrained_model_name_or_path=stabilityai/stable-diffusion-xl-base-1.0`.
"""
