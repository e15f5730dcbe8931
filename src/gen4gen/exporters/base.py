"""The exporter interface: one ``Writer`` per output format, fed finished samples one at a time.

```
writer.open(run_dir)       # before the first sample
writer.add(sample)         # once per exported sample, in order (a gen4gen.sample.Sample)
writer.close()             # writes whatever needs all samples; files appear atomically
```
A writer reads only the :class:`~gen4gen.sample.Sample` view and the files it names, never the manifest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from gen4gen.sample import Sample


class Writer(ABC):
    name: ClassVar[str]

    def open(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @abstractmethod
    def add(self, sample: Sample) -> None: ...

    @abstractmethod
    def close(self) -> list[Path]:
        """Finish writing; the files written."""
