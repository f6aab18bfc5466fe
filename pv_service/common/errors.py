"""Domain errors, turned into HTTP answers in one place (pv_service.app)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldProblem:
    loc: tuple[Any, ...]
    msg: str
    type: str = "value_error"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """422 with the same shape as FastAPI's request validation errors."""
    status_code = 422

    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems))
        self.problems = problems

    @classmethod
    def one(cls, loc: tuple[Any, ...], msg: str, type: str = "value_error") -> "InvalidInput":
        return cls([FieldProblem(loc, msg, type)])


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


@dataclass
class Problems:
    """Collects several field problems before raising them together."""
    items: list[FieldProblem] = field(default_factory=list)

    def add(self, loc: tuple[Any, ...], msg: str, type: str = "value_error") -> None:
        self.items.append(FieldProblem(loc, msg, type))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)


def check_range(low, high, low_name: str, high_name: str) -> None:
    """A query's from/to pair: refused when the start is after the end (an empty page would read
    as "nothing in that range")."""
    if low is not None and high is not None and low > high:
        raise InvalidInput.one(("query", low_name), f"is after {high_name}")
