"""Progress bars and one-line messages, kept apart from the stages so tests can run them silently."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("gen4gen")


def _ignore(n: int = 1) -> None:
    """Progress callback that shows nothing."""


class Reporter:
    """Silent reporter: collects warnings (tests, library use)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        yield _ignore

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def info(self, message: str) -> None:
        log.info(message)


class RichReporter(Reporter):
    """Progress bars and messages on stderr."""

    def __init__(self, console: Console | None = None, progress: bool = True) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.progress = progress

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if not self.progress:
            yield _ignore
            return
        columns = (
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task_id = progress.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                progress.advance(task_id, n)

            yield advance

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        self.console.print(escape(message), highlight=False, soft_wrap=True)
