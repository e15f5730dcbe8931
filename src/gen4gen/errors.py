"""Every error gen4gen raises on purpose, under one root; the CLI catches the root and maps branches to exit codes.

```
Gen4GenError
├── ConfigError            a bad config key or value, a bad --set                      exit 2
├── SourceError            the input folder cannot be used at all                      exit 1
├── ItemError              one input item cannot be processed; the stage records it,
│   │                      reports it and goes on with the others
│   └── ImageError         a photo or image file cannot be read (empty, truncated, bomb)
├── StageError             a stage cannot run (its inputs were never made)             exit 1
├── ManifestError          the run database is damaged or from a newer gen4gen         exit 1
├── BackendError
│   ├── UnknownBackend     no backend of that name for the stage                       exit 2
│   └── BackendUnavailable a backend cannot run here (package, weights, endpoint)      exit 1
└── LLMError               an OpenAI-compatible endpoint failed
    ├── LLMUnavailable     unreachable, or still failing after retries
    ├── LLMRequestRejected a 4xx other than 429: retrying will not help
    └── LLMBadResponse     an answer that cannot be used
        └── ParseError     no structured answer found in the text
```

Messages are one line, name the file or key concerned and say how to fix it. Anything else reaching the CLI is
a bug and is shown as one.
"""

from __future__ import annotations


class Gen4GenError(Exception):
    """Root of every error gen4gen raises on purpose."""


class ConfigError(Gen4GenError):
    """A configuration problem; the message names the key (or file) and the fix."""


class SourceError(Gen4GenError):
    """The input folder cannot be used at all; the message says why and what layout is expected."""


class ItemError(Gen4GenError):
    """A problem with one item (e.g. an empty segmentation): the stage records it as failed and goes on."""


class ImageError(ItemError):
    """An image file that cannot be used; the message names the file and the fix."""


class StageError(Gen4GenError):
    """A stage cannot run at all (e.g. its inputs were never made); the message says what to run first."""


class ManifestError(Gen4GenError):
    """The run database cannot be used (damaged, or written by a newer version)."""


class BackendError(Gen4GenError):
    """A backend cannot be chosen or built."""


class UnknownBackend(BackendError):
    """No backend of that name is registered for the stage."""


class BackendUnavailable(BackendError):
    """A backend cannot run here (missing package, weights or endpoint); the message says how to fix it."""


class LLMError(Gen4GenError):
    """An OpenAI-compatible endpoint failed (the message never contains the API key)."""


class LLMUnavailable(LLMError):
    """The endpoint is unreachable or keeps failing after retries."""


class LLMRequestRejected(LLMError):
    """The endpoint refused the request itself (4xx other than 429): retrying will not help."""


class LLMBadResponse(LLMError):
    """The endpoint answered, but not with something usable."""


class ParseError(LLMBadResponse):
    """No structured answer could be found in a model's text."""


#: exit status of the CLI for each branch (the first matching class wins)
EXIT_CODES: tuple[tuple[type[Gen4GenError], int], ...] = (
    (ConfigError, 2),
    (UnknownBackend, 2),
    (Gen4GenError, 1),
)


def exit_code(error: Gen4GenError) -> int:
    """The CLI's exit status for ``error``."""
    return next(code for cls, code in EXIT_CODES if isinstance(error, cls))
