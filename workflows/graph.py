"""A template's step graph as nodes and edges, and as a Mermaid flowchart."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.model import StepKind, StepSpec, Template


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    label: str
    compensation: bool


@dataclass(frozen=True)
class Edge:
    """`source` must finish before `target`; `kind` is depends_on, then, else or compensates."""

    source: str
    target: str
    kind: str


def _label(spec: StepSpec) -> str:
    if spec.kind is StepKind.ACTION:
        return f"{spec.id}: {spec.action}"
    if spec.kind in (StepKind.PUBLISH, StepKind.WAIT_EVENT):
        return f"{spec.id}: {spec.kind.value} {spec.event_type}"
    return f"{spec.id}: {spec.kind.value}"


def step_graph(template: Template) -> tuple[list[Node], list[Edge]]:
    nodes = [Node(spec.id, spec.kind.value, _label(spec), spec in template.compensation)
             for spec in template.all_steps()]
    edges: list[Edge] = []
    for spec in template.all_steps():
        edges.extend(Edge(dependency, spec.id, "depends_on") for dependency in spec.depends_on)
        edges.extend(Edge(spec.id, target, "then") for target in spec.then_steps)
        edges.extend(Edge(spec.id, target, "else") for target in spec.else_steps)
        if spec.compensates is not None:
            edges.append(Edge(spec.compensates, spec.id, "compensates"))
    return nodes, edges


_SHAPES = {
    "condition": ("{", "}"),
    "approval": ("[/", "/]"),
    "wait_event": ("([", "])"),
    "sleep": ("([", "])"),
    "publish": ("[[", "]]"),
}


def mermaid(template: Template) -> str:
    """Render the graph as a Mermaid flowchart: conditions as diamonds, waits as stadiums."""
    nodes, edges = step_graph(template)
    lines = ["flowchart TD", f"  %% {template.name} v{template.version}"]
    for node in nodes:
        start, end = _SHAPES.get(node.kind, ("[", "]"))
        label = node.label.replace('"', "'")
        lines.append(f'  {node.id}{start}"{label}"{end}')
    for edge in edges:
        if edge.kind == "depends_on" and any(
            other.source == edge.source and other.target == edge.target and other.kind in ("then", "else")
            for other in edges
        ):
            continue  # the branch edge drawn below carries more than the plain dependency
        if edge.kind == "depends_on":
            lines.append(f"  {edge.source} --> {edge.target}")
        elif edge.kind == "compensates":
            lines.append(f"  {edge.source} -. compensated by .-> {edge.target}")
        else:
            lines.append(f"  {edge.source} -- {edge.kind} --> {edge.target}")
    compensation = [node.id for node in nodes if node.compensation]
    if compensation:
        lines.append("  classDef compensation stroke-dasharray: 5 5")
        lines.append(f"  class {','.join(compensation)} compensation")
    return "\n".join(lines) + "\n"
