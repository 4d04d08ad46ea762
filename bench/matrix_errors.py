"""How a matrix's validation error is said in one line: the field's path as the user
wrote it, and for an unknown key the key it was probably meant to be."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def format_location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("LocalTarget", "AwsTarget", "local", "aws"):
            continue  # discriminated-union tags are noise to a user
        else:
            # A key with a line break or blanks in it is quoted: the error stays one line.
            name = str(part) if str(part).isprintable() and str(part).strip() else repr(part)
            path += f".{name}" if path else name
    return path or "(top level)"


def unknown_key(err: Any, errors: list[Any], root: type[BaseModel]) -> str:
    """`memroy_mb: unknown key (did you mean memory_mb?)`, the guess taken from the keys
    missing beside it, else from the keys the model at that place knows."""
    import difflib

    loc = tuple(err["loc"])
    key, parent = str(loc[-1]), loc[:-1]
    missing = [str(e["loc"][-1]) for e in errors
               if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent]  # fmt: skip
    guess = difflib.get_close_matches(key, missing or _known_keys(parent, root), n=1, cutoff=0.6)
    hint = (
        f"did you mean {guess[0]}?"
        if guess
        else "check the spelling; see the matrix contract in the README"
    )
    return f"{format_location(loc)}: unknown key ({hint})"


def _known_keys(parent: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    """The field names of the model found at `parent`, walking `root`'s annotations; []
    where the walk cannot tell (a union of models, say)."""
    import typing

    model: Any = root
    for part in parent:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            continue  # a union's tag (local, aws) names no field
        candidates = [field.annotation]
        model = None
        while candidates:
            kind = candidates.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                model = kind
                break
            candidates.extend(typing.get_args(kind))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []
