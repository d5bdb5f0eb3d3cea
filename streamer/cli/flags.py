"""``streamer serve``'s flags, one per setting, derived from the declarations in :mod:`streamer.settings`."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streamer.settings import (
    ConfigError,
    Settings,
    Var,
    declared,
    env_names,
    field_type,
    flag_names,
    parse_value,
    shown_default,
)


def _flag_type(f: dataclasses.Field[Any], var: Var) -> Callable[[str], Any]:
    """An argparse type for ``f``'s flag: the variable's parsing, as an argparse error."""

    def convert(text: str) -> Any:
        try:
            return parse_value(f, var, text.strip())
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (secrets excepted), each overriding its variable; unset flags leave it."""
    for f, var in declared():
        names = flag_names(f, var)
        if not names:
            continue
        kind = field_type(f)
        extra: dict[str, Any] = {}
        if kind is bool:
            extra["action"] = argparse.BooleanOptionalAction
        else:
            extra["metavar"] = (
                "|".join(var.choices)
                if var.choices
                else {int: "N", Path: "DIR"}.get(kind, f.name.rsplit("_", 1)[-1].upper())
            )
            extra["type"] = _flag_type(f, var)
        parser.add_argument(
            *names,
            dest="setting_" + f.name,
            default=None,
            help=f"{var.help} ({env_names(var)}; default {shown_default(f, var)})",
            **extra,
        )


def from_flags(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """The environment's settings with the flags :func:`add_flags` made applied over them."""
    changes = {
        f.name: getattr(args, "setting_" + f.name)
        for f, _ in declared()
        if getattr(args, "setting_" + f.name, None) is not None
    }
    return Settings.from_env(env).replace(**changes)
