"""Custom Diffusion: what ``--concepts_list`` of diffusers' ``examples/custom_diffusion/train_custom_diffusion.py``
reads::

    DIR/concepts_list.json          one entry per image: instance_prompt (its own training caption, with the
                                    modifier tokens), class_prompt, instance_data_dir, class_data_dir (absolute)
    DIR/instances/<id>/<id>.png     one RGB image per folder: the trainer reads every file of an instance folder
                                    with the entry's prompt, so a folder holds exactly one image and nothing else
    DIR/class_images/<composition>/ where the trainer puts (or finds) its prior-preservation images
    DIR/README.md                   the command line, with the --modifier_token string to pass
    DIR/export.yaml

The class prompt of a sample is its concepts without tokens ("a cat and two dogs"); samples of one composition
share a class folder, so the trainer generates its class images once per composition.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from gen4gen.exporters.folder import FolderWriter, file_safe
from gen4gen.sample import Sample
from gen4gen.text import count_phrase, join


def class_prompt(sample: Sample) -> str:
    """The sample's concepts as plain words: "a cat and two dogs"."""
    counts: dict[str, int] = {}
    for obj in sample.objects:
        counts[obj.name] = counts.get(obj.name, 0) + 1
    return join([count_phrase(name, count) for name, count in counts.items()])


def initializer_word(name: str) -> str:
    """The word a modifier token's embedding starts from: the class word's last word ("house plant" -> "plant")."""
    return name.split()[-1] if name.split() else "photo"


class CustomDiffusionWriter(FolderWriter):
    name = "custom-diffusion"
    owned = ("instances",)

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.entries: list[dict[str, str]] = []

    def add(self, sample: Sample) -> None:
        stem = self.unique_stem(sample)
        root = self.out_dir.resolve()
        self.place_rgb(self.source(sample.image, sample), f"instances/{stem}/{stem}")
        self.entries.append(
            {
                "instance_prompt": self.captions.caption(sample),
                "class_prompt": class_prompt(sample),
                "instance_data_dir": str(root / "instances" / stem),
                "class_data_dir": str(root / "class_images" / file_safe(sample.composition, "composition")),
            }
        )
        self.count += 1

    def modifier_arguments(self) -> tuple[str, str]:
        """(--modifier_token, --initializer_token) values: one initializer word per modifier token."""
        tokens, words = [], []
        for concept in self.captions.concepts.values():
            if concept.token:
                tokens.append(concept.token)
                words.append(initializer_word(concept.name))
        if self.captions.global_token:
            tokens.append(self.captions.global_token)
            words.append("photo")
        return "+".join(tokens), "+".join(words)

    def close(self) -> list[Path]:
        self.put_json("concepts_list.json", self.entries)
        modifier, initializer = self.modifier_arguments()
        command = training_command(self.out_dir.resolve(), modifier, initializer)
        self.put_text("README.md", README.format(command=command, modifier=modifier or "(none)"))
        extra: dict[str, Any] = {"modifier_token": modifier, "initializer_token": initializer, "command": command}
        return self.finish(**extra)


def training_command(root: Path, modifier: str, initializer: str) -> str:
    lines = [
        "accelerate launch train_custom_diffusion.py",
        "--pretrained_model_name_or_path=CompVis/stable-diffusion-v1-4",
        f"--output_dir={shlex.quote(str(root / 'model'))}",
        f"--concepts_list={shlex.quote(str(root / 'concepts_list.json'))}",
        "--with_prior_preservation --prior_loss_weight=1.0 --num_class_images=200",
        "--resolution=512 --train_batch_size=2 --learning_rate=1e-5 --lr_warmup_steps=0",
        "--max_train_steps=2000 --scale_lr --hflip",
    ]
    if modifier:
        lines.append(f"--modifier_token={shlex.quote(modifier)} --initializer_token={shlex.quote(initializer)}")
    return " \\\n  ".join(lines)


README = """\
# gen4gen dataset (Custom Diffusion)

For diffusers' `examples/custom_diffusion/train_custom_diffusion.py`: every entry of `concepts_list.json` is one
image (`instances/<id>/`, RGB, nothing else in the folder) with its own caption; the modifier tokens are
`{modifier}`. Paths are absolute: re-export after moving this folder.

```bash
{command}
```

Every modifier token must be new to the tokenizer, and every initializer token (the class words) a single token
of it; change `--initializer_token` (one per modifier token, `+`-separated) if the trainer says otherwise.
Prior-preservation images are generated once per composition into `class_images/`.
"""
