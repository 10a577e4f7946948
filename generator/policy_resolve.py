"""Which terms bind a model string reached at an API base: the host's first, then the
model's (its maker's terms, or the licence of its weights). The stricter verdict wins.

Layers, in order:

1. **The host.** With an API base, its host name decides: loopback, or a host the user
   declares as their own (``INSTRUCTFORGE_SELF_HOSTED``), gets ``local`` (the weights'
   licence alone); a host listed in a policy's ``hosts`` gets that policy (DashScope ->
   ``qwen``, Together -> ``together``, Bedrock -> ``aws-bedrock`` ...); any other host gets
   ``unknown``. The LiteLLM prefix (``openai/``, ``hosted_vllm/`` ...) says only which wire
   format is spoken, never whose server it is. Without an API base, the prefix is the route:
   the policy covering ``prefix/*`` (``bedrock/*``, ``groq/*``, ``ollama/*`` ...), else the
   most specific of all ``covers`` globs (``gpt-*``, ``claude-*``), else ``unknown``.
2. **The model**, when the host serves models made by others (``serves: others``: clouds,
   resellers, routers, unknown servers): the weights' family in ``local.yaml`` (the licence
   catalogue: Llama, Qwen, Mistral, DeepSeek, gpt-oss ...) if the name matches one; else the
   maker whose policy covers the name after the prefix (``anthropic.claude-*`` on Bedrock ->
   ``anthropic``); else ``unknown``. On our own server a family decides alone, but a maker's
   name (a local proxy to ``claude-*``) still brings the maker's terms. A maker's own service
   (``serves: own``) applies its own families itself (``qwen.yaml`` on Model Studio).

``domicile`` (``INSTRUCTFORGE_DOMICILE``) decides licences with a domicile rule, and
``authorizations.yaml`` may lift a verdict its terms make conditional (policy_auth.py).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.config import env
from generator.errors import ConfigError
from generator.policies import (
    LOCAL_ID,
    UNKNOWN_ID,
    VERDICTS,
    Policy,
    Verdict,
    _specificity,
    combine_host_and_licence,
    family_verdict,
    load_policies,
    verdict,
)
from generator.policy_auth import Authorization, Authorizations
from generator.policy_schema import UseVerdict
from generator.redact import scrub_url_credentials

# Built-in providers that never call the API base: the mock answers in-process, and a
# local model runs on a loopback server of our own (it refuses --api-base).
IN_PROCESS = ("mock", "local")


def scrub_url(url: str | None) -> str | None:
    """The URL with its ``user:pass@`` replaced (what may be written to meta and manifests)."""
    return scrub_url_credentials(url.strip()) if url else url


def host_of(api_base: str | None) -> str | None:
    """The lower-case host name of an API base (``None`` without one or if unparsable)."""
    if not api_base or not api_base.strip():
        return None
    url = api_base.strip()
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ResolveContext:
    """Who we are: the hosts we run ourselves, and our domicile (both from the environment,
    recorded in every export's manifest)."""

    self_hosted: tuple[str, ...] = ()
    domicile: str | None = None

    @classmethod
    def from_env(cls) -> ResolveContext:
        hosts = tuple(
            h.strip().lower() for h in (env("INSTRUCTFORGE_SELF_HOSTED") or "").split(",")
        )
        dom = (env("INSTRUCTFORGE_DOMICILE") or "").strip() or None
        if dom is not None and not re.fullmatch(r"[A-Za-z][A-Za-z-]{1,15}", dom):
            raise ConfigError(
                f"INSTRUCTFORGE_DOMICILE must be a region code such as EU or US, not {dom!r}"
            )
        return cls(tuple(h for h in hosts if h), dom.upper() if dom else None)

    def declares(self, host: str) -> bool:
        return any(fnmatch.fnmatchcase(host, g) for g in self.self_hosted)

    def to_dict(self) -> dict[str, Any]:
        return {"self_hosted": list(self.self_hosted), "domicile": self.domicile}


@dataclass(frozen=True)
class Layer:
    """One set of terms that binds: its policy, its role, the pattern that chose it, why."""

    policy: Policy
    role: str  # host | self-hosted | route | maker | licence | model
    pattern: str | None
    why: str
    model: str  # the model string families are looked up with


@dataclass(frozen=True)
class Resolution:
    """Every layer of terms for one (model, API base); the first is the record's tag."""

    layers: tuple[Layer, ...]
    api_base: str | None = None  # scrubbed

    @property
    def policy(self) -> Policy:
        return self.layers[0].policy

    @property
    def pattern(self) -> str | None:
        return self.layers[0].pattern

    @property
    def why(self) -> str:
        return "; then ".join(layer.why for layer in self.layers)


@dataclass(frozen=True)
class Assessment:
    """The verdict of every layer for one use, and the strictest of them."""

    resolution: Resolution
    use: str
    verdicts: tuple[tuple[Layer, Verdict], ...] = field(default=())

    @property
    def verdict(self) -> str:
        return max((v.verdict for _, v in self.verdicts), key=VERDICTS.index)


def _most_specific(policies: dict[str, Policy], name: str, makers: bool) -> tuple[Any, Any]:
    best: tuple[tuple[int, int], str, Policy] | None = None
    for pol in sorted(policies.values(), key=lambda p: p.id):
        if makers and pol.serves != "own":
            continue
        for pattern in pol.covers:
            if fnmatch.fnmatchcase(name, pattern.lower()):
                cand = (_specificity(pattern), pattern, pol)
                if best is None or cand[0] > best[0]:
                    best = cand
    return (best[2], best[1]) if best else (None, None)


def _by_host(policies: dict[str, Policy], host: str) -> tuple[Any, Any]:
    hits = [
        (pattern, pol)
        for pol in policies.values()
        for pattern in pol.hosts
        if fnmatch.fnmatchcase(host, pattern.lower())
    ]
    if not hits:
        return None, None
    pattern, pol = max(hits, key=lambda h: _specificity(h[0]))
    return pol, pattern


def _host_layer(
    policies: dict[str, Policy], m: str, host: str | None, ctx: ResolveContext
) -> Layer:
    if host is not None:
        if is_loopback(host) or ctx.declares(host):
            how = "loopback" if is_loopback(host) else "declared self-hosted"
            why = f"served by {host} ({how}): our own server, the weights' licence decides"
            return Layer(policies[LOCAL_ID], "self-hosted", host, why, m)
        pol, pattern = _by_host(policies, host)
        if pol is not None:
            return Layer(pol, "host", pattern, f"API base {host} is {pol.provider} ({pattern})", m)
        why = f"API base {host}: no policy names it (ours go in INSTRUCTFORGE_SELF_HOSTED)"
        return Layer(policies[UNKNOWN_ID], "host", None, why, m)
    if "/" in m:  # a LiteLLM provider prefix: only a policy covering "prefix/*" knows it
        route = f"{m.split('/', 1)[0]}/*"
        for pol in sorted(policies.values(), key=lambda p: p.id):
            if route in (c.lower() for c in pol.covers):
                return Layer(pol, "route", route, f"{m!r} is routed by {route!r}", m)
        why = f"provider prefix {route!r}: no policy covers that service"
        return Layer(policies[UNKNOWN_ID], "route", None, why, m)
    pol, pattern = _most_specific(policies, m, makers=False)
    if pol is None:
        return Layer(policies[UNKNOWN_ID], "route", None, f"no policy covers {m!r}", m)
    return Layer(pol, "route", pattern, f"{m!r} matches {pattern!r} (most specific)", m)


def _model_layer(policies: dict[str, Policy], m: str, first: Layer) -> Layer | None:
    if first.policy.serves == "own":
        return None  # the maker's own service applies its own families
    name = m.split("/", 1)[1] if "/" in m else m
    local = policies.get(LOCAL_ID)
    fam = local.family_for(name) if local else None
    if first.policy.id == LOCAL_ID and fam is not None:
        return None  # open weights on our own server: local.yaml's family decides alone
    if local is not None and fam is not None:
        why = f"weights of family {fam[0]!r}: {fam[1].licence}"
        return Layer(local, "licence", fam[0], why, name)
    pol, pattern = _most_specific(policies, name, makers=True)
    if pol is not None:  # also behind our own server: a local proxy to a maker's API
        why = f"model {name!r} is {pol.provider}'s ({pattern}): its terms apply through the host"
        return Layer(pol, "maker", pattern, why, name)
    if first.policy.id == LOCAL_ID:
        return None  # local.yaml's own verdict (review) covers a family it does not list
    why = f"model {name!r}: neither its maker's terms nor its weights' licence are on file"
    return Layer(policies[UNKNOWN_ID], "model", None, why, name)


def resolve(
    model: str,
    api_base: str | None = None,
    directory: Path | str | None = None,
    ctx: ResolveContext | None = None,
) -> Resolution:
    """Every layer of terms binding ``model`` reached at ``api_base`` (module docstring)."""
    policies = load_policies(directory)
    ctx = ctx if ctx is not None else ResolveContext.from_env()
    m = model.strip().lower()
    host = None if m.split("/", 1)[0] in IN_PROCESS else host_of(api_base)
    first = _host_layer(policies, m, host, ctx)
    second = _model_layer(policies, m, first)
    layers = (first,) if second is None or second.policy.id == first.policy.id else (first, second)
    return Resolution(layers, scrub_url(api_base))


def _authorized(
    layer: Layer, use: str, v: Verdict, auth: Authorization, domicile: str | None
) -> Verdict:
    """``v`` with the policy's own verdict replaced by the authorization's; a family's
    licence still binds (the stricter of the two wins)."""
    pol = layer.policy
    terms = pol.uses[use]  # type: ignore[index]
    reason = (
        f"Authorized in writing ({auth.id}): {auth.granted_by} to {auth.granted_to} on "
        f"{auth.date}, {auth.document}: {auth.scope}"
    )
    granted = UseVerdict(verdict=auth.verdict, reason=reason, clause=terms.clause, url=terms.url)
    if v.family is None:
        return replace(
            v, verdict=auth.verdict, reason=reason, decided_by="policy", authorization=auth.id
        )
    fam = pol.models[v.family]
    lic = family_verdict(fam, use, domicile)
    out = combine_host_and_licence(pol, granted, v.family, fam.licence, lic, v.stale)
    return replace(out, authorization=auth.id)


def assess(
    res: Resolution,
    use: str,
    ctx: ResolveContext | None = None,
    auths: Authorizations | None = None,
    today: date | None = None,
) -> Assessment:
    """The verdict of each layer of ``res`` for ``use``; an authorization on file lifts a
    verdict only where the policy marks it ``authorizable`` and only for its scope."""
    ctx = ctx if ctx is not None else ResolveContext.from_env()
    day = today or date.today()
    out = []
    for layer in res.layers:
        v = verdict(layer.policy, use, layer.model, today=today, domicile=ctx.domicile)
        terms = layer.policy.uses[use]  # type: ignore[index]
        if auths is not None and terms.authorizable and v.decided_by != "family":
            found = auths.find(layer.policy.id, use, res.layers[0].model, day)
            if found is not None:
                v = _authorized(layer, use, v, found, ctx.domicile)
        out.append((layer, v))
    return Assessment(res, use, tuple(out))
