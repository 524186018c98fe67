"""``roost alerts``: list the built-in alert templates, validate rule files, export rules
as a PrometheusRule manifest for clusters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roost.core import RoostError

if TYPE_CHECKING:
    from roost.observe.alerts import AlertRule

app = typer.Typer(
    help="Alert rules: templates, validation, PrometheusRule export.", no_args_is_help=True
)

RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", "-r", help="Rule file(s) (YAML); default: the built-in templates."),
]


def _rules(files: list[Path] | None, builtin: bool) -> list[AlertRule]:
    from roost.observe.alerts import builtin_rules, load_rules

    rules = builtin_rules() if builtin else []
    for f in files or []:
        rules.extend(load_rules(f))
    if not rules:
        from roost.observe.errors import AlertRuleInvalid

        raise AlertRuleInvalid("no rules to export", hint="pass --rules FILE or drop --no-builtin")
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        from roost.observe.errors import AlertRuleInvalid

        raise AlertRuleInvalid(
            f"rule names used more than once: {', '.join(dupes)}",
            hint="rename your rule or drop --builtin",
        )
    return rules


def _fail(err: RoostError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error[/red] {escape(str(err))}")
    return typer.Exit(code=1)


@app.command("list")
def list_(
    rules: RulesOpt = None,
    level: Annotated[str | None, typer.Option(help="infrastructure, service or business.")] = None,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the rules as YAML.")] = False,
) -> None:
    """List alert rules (the built-in templates unless --rules is given)."""
    from roost.observe.alerts import promql, rules_yaml

    try:
        loaded = [r for r in _rules(rules, not rules) if level is None or r.level == level]
    except RoostError as err:
        raise _fail(err) from None
    if as_yaml:
        typer.echo(rules_yaml(loaded), nl=False)
        return
    table = Table(title="Alert rules")
    for col in ("name", "level", "severity", "condition", "for", "message"):
        table.add_column(col, overflow="fold")
    for r in loaded:
        table.add_row(r.name, r.level, r.severity, promql(r), r.for_, r.message)
    Console(width=200).print(table)


@app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="Rule file(s) to validate.")],
) -> None:
    """Validate rule files; exits 1 with what to fix when a rule is invalid."""
    from roost.observe.alerts import load_rules

    total = 0
    for f in files:
        try:
            rules = load_rules(f)
        except RoostError as err:
            raise _fail(err) from None
        total += len(rules)
        typer.echo(f"{f}: {len(rules)} rule(s) OK")
    typer.echo(f"{total} rule(s) valid")


@app.command("export")
def export(
    rules: RulesOpt = None,
    builtin: Annotated[
        bool, typer.Option("--builtin/--no-builtin", help="Include the built-in templates.")
    ] = True,
    name: Annotated[str, typer.Option(help="metadata.name of the manifest.")] = "roost-alerts",
    namespace: Annotated[str | None, typer.Option(help="metadata.namespace.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="Extra metadata label k=v (e.g. release=prometheus)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the rules as a monitoring.coreos.com/v1 PrometheusRule manifest."""
    from roost.observe.alerts import prometheus_rule_yaml

    labels: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(RoostError(f"--label {item!r} must be key=value"))
        labels[key] = value
    try:
        text = prometheus_rule_yaml(
            _rules(rules, builtin), name=name, namespace=namespace, labels=labels
        )
    except RoostError as err:
        raise _fail(err) from None
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)
