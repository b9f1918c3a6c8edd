"""``wavelet-networks models`` and ``wavelet-networks datasets``."""

from __future__ import annotations

import textwrap

from wavelet_networks.cli import ArgumentParser

__all__ = ["datasets_command", "format_datasets", "format_model_table", "models_command"]


def format_model_table(names: list[str] | None = None, num_classes: int = 10) -> str:
    """Name, family, parameters (built with ``num_classes`` outputs), twin and paper."""
    from wavelet_networks.models import available, build, card

    rows = [("name", "family", "params", "twin", "task", "input", "paper")]
    for name in names or available():
        c = card(name)
        n_out = c.extra.get("num_classes", 50 if c.task == "multilabel" else num_classes)
        model = build(name, num_classes=n_out)
        params = sum(p.numel() for p in model.parameters())
        length = f"{c.input_length} @ {c.sample_rate} Hz" if c.sample_rate else str(
            c.input_length or "-"
        )
        rows.append((name, c.family, f"{params:,}", c.twin or "-", c.task, length, c.paper))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def models_command(args: list[str]) -> int:
    """Print the model cards (``models.cards.format_cards`` when available)."""
    p = ArgumentParser(
        "models",
        "List the registered models: name, family (baseline or wavelet), parameter count, "
        "parameter-matched twin, task, input length and source paper.",
        "wavelet-networks models",
    )
    p.add_argument("names", nargs="*", help="only these models (default: all)")
    ns = p.parse_args(args)
    from wavelet_networks.models import card

    for name in ns.names:
        card(name)  # unknown name: one-line error
    try:
        from wavelet_networks.models.cards import format_cards
    except ImportError:
        print(format_model_table(ns.names or None))
    else:
        print(format_cards(ns.names) if ns.names else format_cards())
    return 0


def format_datasets() -> str:
    """Name, task, description and expected on-disk layout of every registered data set."""
    from wavelet_networks.data import DATASETS

    blocks = []
    for name in sorted(DATASETS):
        cls = DATASETS[name]
        layout = textwrap.indent(textwrap.dedent(cls.expected_layout).strip() or "-", "    ")
        block = (
            f"{name}  ({cls.task})\n  {cls.description}\n  expected layout (--data.root):\n"
            f"{layout}"
        )
        describe = getattr(cls, "describe_available", None)
        if describe is not None:
            wrapped = "\n".join(
                textwrap.fill(line, 96, initial_indent="    ", subsequent_indent="      ")
                for line in describe().splitlines()
            )
            block += f"\n  available offline (--data.name):\n{wrapped}"
        blocks.append(block)
    return "\n\n".join(blocks)


def datasets_command(args: list[str]) -> int:
    """Print the registered data sets."""
    p = ArgumentParser(
        "datasets",
        "List the registered data sets (use the name with `fit --data NAME`): task, "
        "description and the on-disk layout --data.root must have.",
        "wavelet-networks datasets",
    )
    p.parse_args(args)
    print(format_datasets())
    return 0
