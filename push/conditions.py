"""Who a push to all goes to: Tencent's Condition, checked (push.services.check_condition)
and stored with the task (BroadcastTask.condition)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Condition:
    """Who a push goes to. Tags and attributes never together; nothing = everybody.
    Attributes are kept by slot (so renaming an attribute does not change a task)."""

    tags_and: list[str] = field(default_factory=list)
    tags_or: list[str] = field(default_factory=list)
    attrs_and: dict[int, str] = field(default_factory=dict)
    attrs_or: dict[int, str] = field(default_factory=dict)

    def as_json(self) -> dict:
        out = {"tags_and": self.tags_and, "tags_or": self.tags_or,
               "attrs_and": {str(k): v for k, v in self.attrs_and.items()},
               "attrs_or": {str(k): v for k, v in self.attrs_or.items()}}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_json(cls, data: dict) -> Condition:
        return cls(tags_and=list(data.get("tags_and", [])),
                   tags_or=list(data.get("tags_or", [])),
                   attrs_and={int(k): v for k, v in data.get("attrs_and", {}).items()},
                   attrs_or={int(k): v for k, v in data.get("attrs_or", {}).items()})

    @property
    def is_everybody(self) -> bool:
        return not (self.tags_and or self.tags_or or self.attrs_and or self.attrs_or)
