"""The `describe` command: an architecture file's Archai id, parameters, MACs and blocks at the
config's class count and image size, and, if asked, its latency as the search measures it."""

from __future__ import annotations

from typing import Any

from nas.arch.archjson import archid, read_arch
from nas.arch.profile import profile_genome
from nas.config import Config
from nas.evaluation.measure import measure_genome_latency


def run(arch: str, config: Config, latency: bool = False) -> dict[str, Any]:
    """One JSON-ready object: archid, num_params, macs, blocks, ... and latency_ms etc."""
    genome = read_arch(arch)
    num_classes, image_size = config.model.num_classes, config.model.image_size
    info = {
        "arch": arch,
        "archid": archid(genome),
        "num_classes": num_classes,
        "image_size": image_size,
    }
    info.update(profile_genome(genome, num_classes, image_size))
    if latency:
        info.update(
            measure_genome_latency(genome, num_classes, image_size, config.latency).as_dict()
        )
    return info


def format_text(info: dict[str, Any]) -> str:
    """The object as aligned lines for a terminal, one per block at the end."""
    lines = [
        f"archid       {info['archid']}",
        f"parameters   {info['num_params']:,} ({info['num_classes']} classes)",
        f"MACs         {info['macs']:,} at {info['image_size']}x{info['image_size']}",
        f"hourglasses  {info['num_hourglasses']} x {info['num_blocks']} blocks, "
        f"stem stride {info['stem_stride']}, base channels {info['base_ch']}",
    ]
    if "latency_ms" in info:
        lines.append(
            f"latency      {info['latency_ms']:.3f} ms median, "
            f"{info['latency_p90_ms']:.3f} ms p90 (ONNX Runtime, "
            f"{info['latency_threads']} thread)"
        )
    lines.append("block        channels      ops")
    for row in info["blocks"]:
        name = row["block"] if row["hourglass"] is None else f"hg{row['hourglass']}.{row['block']}"
        ops = ", ".join(row["ops"]) or "(identity)"
        lines.append(f"{name:<12} {row['in_ch']:>4} -> {row['out_ch']:<5} {ops}")
    return "\n".join(lines)
