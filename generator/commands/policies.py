"""``instructforge policies list | show ID | check --model MODEL --use USE``."""

from __future__ import annotations

import typer

from generator.errors import ConfigError
from generator.policies import (
    Policy,
    get_policy,
    is_stale,
    load_policies,
    stale_warning,
)
from generator.policy_schema import VERDICTS, Clause
from generator.records import USES

policies_app = typer.Typer(
    no_args_is_help=True,
    help="Terms-of-use policies: which provider terms cover a model, and what they allow.",
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    head = "  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True))
    return "\n".join([head.rstrip(), "  ".join("-" * w for w in widths), *map(str.rstrip, lines)])


def _warn(policy: Policy) -> None:
    text = stale_warning(policy)
    if text:
        typer.echo(f"warning: {text}", err=True)


@policies_app.command("list")
def list_cmd() -> None:
    """One line per policy: provider, version, review date and the verdict for each use."""
    policies = load_policies()
    rows = []
    for pol in sorted(policies.values(), key=lambda p: p.id):
        stale = "STALE" if is_stale(pol) else "no"
        rows.append(
            [pol.id, pol.provider, pol.version, str(pol.reviewed_at), stale]
            + [pol.uses[u].verdict for u in USES]
        )
    typer.echo(_table(["id", "provider", "version", "reviewed", "stale", *USES], rows))
    if any(is_stale(p) for p in policies.values()):
        typer.echo("STALE: last review is older than the allowed age; re-check the terms.")
    typer.echo("local: verdicts per model family, see `instructforge policies show local`.")


def _clause_lines(name: str, clause: Clause) -> list[str]:
    extra = f" [{clause.restriction}]" if hasattr(clause, "restriction") else ""
    extra += f" [default: {clause.default}]" if hasattr(clause, "default") else ""
    out = [f"  {name}{extra}: {clause.summary}"]
    if clause.quote:
        out.append(f'    quote: "{clause.quote}"')
    if clause.ref:
        out.append(f"    where: {clause.ref}")
    if clause.url:
        out.append(f"    url:   {clause.url}")
    return out


@policies_app.command("show")
def show_cmd(policy_id: str = typer.Argument(..., metavar="ID", help="Policy id.")) -> None:
    """Every field of one policy: terms, clauses with their URLs, verdicts, note, families."""
    pol = get_policy(policy_id)
    _warn(pol)
    out = [
        f"id:          {pol.id}",
        f"version:     {pol.version}",
        f"sha256:      {pol.sha256}",
        f"file:        {pol.path}",
        f"provider:    {pol.provider}",
        f"covers:      {', '.join(pol.covers) or '(fallback: models no policy covers)'}",
        f"hosts:       {', '.join(pol.hosts) or '-'}",
        f"serves:      {pol.serves} models"
        + (" (the model's own terms or licence bind too)" if pol.serves == "others" else ""),
        f"terms:       {pol.terms.name}",
        f"  url:       {pol.terms.url}",
        f"  effective: {pol.terms.effective_date}",
        f"reviewed_at: {pol.reviewed_at}" + ("  (STALE)" if is_stale(pol) else ""),
        "clauses:",
    ]
    c = pol.clauses
    out += _clause_lines("output_ownership", c.output_ownership)
    out += _clause_lines("competing_models", c.competing_models)
    out += _clause_lines("attribution", c.attribution)
    out += _clause_lines("inputs_used_for_training", c.inputs_used_for_training_by_default)
    for i, other in enumerate(c.other, 1):
        out += _clause_lines(f"other[{i}]", other)
    out.append("uses:")
    for use in USES:
        uv = pol.uses[use]
        out += [f"  {use}: {uv.verdict}: {uv.reason}", f"    clause: {uv.clause}"]
        out.append(f"    url: {uv.url}")
    out += ["note:", *("  " + line for line in pol.note.strip().splitlines())]
    if pol.models:
        out.append(
            "model families (licence verdicts; combined with the host terms above, stricter wins):"
            if pol.host_terms == "apply"
            else "model families (the weights' licence decides):"
        )
        # Files alias one family under several globs (YAML anchors): show each family once.
        groups: dict[str, list[str]] = {}
        for glob, fam in pol.models.items():
            groups.setdefault(fam.model_dump_json(), []).append(glob)
        for globs in groups.values():
            fam = pol.models[globs[0]]
            out += [
                f"  {', '.join(globs)}: {fam.licence} ({fam.licence_url})",
                f"    upstream: {', '.join(fam.upstream)}",
                f"    source:   {' '.join(fam.source.split())}",
            ]
            if fam.sha256:
                out.append(f"    sha256:   {fam.sha256}")
            if fam.note:
                out.append(f"    note:     {' '.join(fam.note.split())}")
            out.append("    " + "  ".join(f"{u}={fam.uses[u].verdict}" for u in USES))
    typer.echo("\n".join(out))


@policies_app.command("check")
def check_cmd(
    model: str = typer.Option(..., "--model", help="LiteLLM model string, e.g. openai/gpt-4o."),
    use: str | None = typer.Option(None, "--use", help=f"One of: {', '.join(USES)}; default all"),
    api_base: str | None = typer.Option(
        None, "--api-base", help="The server the model is reached at, if not the provider's own."
    ),
    domicile: str | None = typer.Option(
        None,
        "--domicile",
        help="The licensee's region (EU, US ...); default INSTRUCTFORGE_DOMICILE.",
    ),
) -> None:
    """Which terms bind MODEL at API-BASE and why (host, then maker or weights' licence),
    then the verdict of each for USE; the strictest decides."""
    from generator.policy_auth import load_authorizations
    from generator.policy_resolve import ResolveContext, assess, resolve

    if use is not None and use not in USES:
        raise ConfigError(f"unknown use {use!r} (known: {', '.join(USES)})")
    if not model.strip():
        raise ConfigError("--model must be a model string, e.g. openai/gpt-4o-mini")
    ctx = ResolveContext.from_env()
    if domicile is not None:
        ctx = ResolveContext(ctx.self_hosted, domicile.strip().upper() or None)
    res = resolve(model, api_base, ctx=ctx)
    pol = res.policy
    for layer in res.layers:
        _warn(layer.policy)
    typer.echo(f"model:   {model}")
    if res.api_base:
        typer.echo(f"api base: {res.api_base}")
    typer.echo(f"policy:  {pol.id} (version {pol.version}, sha256 {pol.sha256[:12]})")
    typer.echo(f"matched: {res.why}")
    typer.echo(f"terms:   {pol.terms.name} <{pol.terms.url}>")
    auths = load_authorizations()
    for u in [use] if use else list(USES):
        a = assess(res, u, ctx, auths)
        layer, v = max(a.verdicts, key=lambda lv: VERDICTS.index(lv[1].verdict))
        fam = f" (model family {v.family})" if v.family else ""
        typer.echo(f"\n{u}: {v.verdict.upper()}{fam}")
        typer.echo(f"  reason: {v.reason}")
        typer.echo(f"  clause: {v.clause}")
        typer.echo(f"  url:    {v.url}")
        if v.authorization:
            typer.echo(f"  authorization: {v.authorization}")
        if len(a.verdicts) > 1:
            for lay, lv in a.verdicts:
                typer.echo(f"  - {lay.role} {lay.policy.id}: {lv.verdict}: {lv.reason}")


def register(app: typer.Typer) -> None:
    """Add the ``policies`` command group to the root app."""
    app.add_typer(policies_app, name="policies")
