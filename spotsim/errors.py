"""Errors a user can act on: the CLI shows them as one line, never a traceback."""


class SpotsimError(Exception):
    """Base class for errors whose message alone tells the user what to fix."""


class ScenarioError(SpotsimError):
    """A scenario value that is refused before anything runs.

    The message names the dotted key, the bad value and what is allowed.
    """

    def __init__(self, key: str, value, allowed: str, source: str | None = None):
        self.key, self.value, self.allowed, self.source = key, value, allowed, source
        where = f" (from {source})" if source else ""
        super().__init__(f"{key} = {value!r}{where}: {allowed}")

    def __reduce__(self):
        """Rebuild from the constructor's arguments: a sweep worker's error crosses a process pipe."""
        return (self.__class__, (self.key, self.value, self.allowed, self.source))


class TraceError(SpotsimError):
    """A preemption trace file that cannot be read or makes no sense."""


class EventLogError(SpotsimError):
    """An event log line that does not follow the schema (with file and line)."""
