"""A sync's first input, opened before the engine loads: its head read, and how to read it decided.

`open_first_input` opens the first audience's file with `pinaudience.input.source.open_source` (format,
compression, delimiter, header, column), which needs neither Polars, nor the client, nor the state store; so
`pinaudience sync` reads its input's first bytes before it loads them (docs/benchmarks.md, "Start-up").
Nothing here speaks to Pinterest or touches the state.

The engine takes what was opened at that audience's read step, after the state lock, and raises a kept error
there: a run's outcome and the order of its errors are those of a file opened at the read step (a lock held by
another run is still reported first, and a file that cannot be read fails only its audience).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinaudience.config import AudienceSettings, Settings
from pinaudience.errors import InputError
from pinaudience.input.source import Source, open_source


@dataclass(frozen=True)
class OpenedInput:
    """One audience's input, opened ahead of its read step: the source, or why it cannot be read."""

    audience: AudienceSettings
    """The audience (the very object of the settings) whose `input` this is."""
    source: Source | None
    error: InputError | None

    def source_for(self, audience: AudienceSettings, path: Path) -> Source | Path:
        """The opened source when it is `audience`'s input (raising its error, if any); else `path`, to open."""
        if audience is not self.audience:
            return path
        if self.error is not None:
            raise self.error
        assert self.source is not None
        return self.source


def open_first_input(settings: Settings) -> OpenedInput | None:
    """Open the first audience's input; None when there is no audience or it names no file."""
    first = settings.audiences[0] if settings.audiences else None
    if first is None or first.input is None:
        return None
    try:
        return OpenedInput(first, open_source(first.input, id_type=first.id_type, column=first.column), None)
    except InputError as exc:
        return OpenedInput(first, None, exc)
