"""Named plug-ins (detector and embedder factories, network architectures): registered in this process
or declared by any installed package as entry points of a group, and imported only when chosen."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from pipeline.errors import ConfigError


class Plugins:
    """The plug-ins of one entry-point ``group``; ``kind`` names them in messages ("embedder")."""

    def __init__(self, group: str, kind: str):
        self.group, self.kind = group, kind
        self._registered: dict[str, object] = {}
        self._loaded: dict[str, object] = {}

    def register(self, name: str, plugin: object) -> None:
        """Make ``plugin`` the one called ``name`` in this process (over an entry point of that name)."""
        self._registered[name] = plugin

    def names(self) -> list[str]:
        """Every name that can be chosen: registered here or declared as an entry point (none imported)."""
        return sorted({*self._registered, *(point.name for point in entry_points(group=self.group))})

    def get(self, name: str) -> object:
        """The plug-in called ``name``, its entry point imported on first use. ConfigError for an unknown
        name (listing the known ones) and for a name two installed packages declare differently."""
        if name in self._registered:
            return self._registered[name]
        if name not in self._loaded:
            self._loaded[name] = self._entry_point(name).load()
        return self._loaded[name]

    def _entry_point(self, name: str) -> EntryPoint:
        declared = {point.value: point for point in entry_points(group=self.group, name=name)}
        if not declared:
            known = self.names()
            hint = (
                f"known: {', '.join(known)}"
                if known
                else f"no package declares any (entry-point group {self.group}): reinstall facepipe (pip install -e .)"
            )
            raise ConfigError(f"unknown {self.kind} {name!r}; {hint}")
        if len(declared) > 1:
            packages = ", ".join(sorted(f"{p.dist.name if p.dist else '?'} ({p.value})" for p in declared.values()))
            raise ConfigError(f"{self.kind} {name!r} is declared by more than one package: {packages}; uninstall one")
        return next(iter(declared.values()))
