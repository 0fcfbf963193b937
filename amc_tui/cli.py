"""The `amc-tui` command line: the console, the demo, snapshots and helpers.

Exit codes: 0 success (snapshot: healthy), 1 degraded, 2 down or a usage /
configuration error, 3 the snapshot itself failed.
"""

from __future__ import annotations

import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from services.clock import Clock
from services.errors import AmcTuiError
from services.settings import (
    LoadedSettings,
    Settings,
    load_settings,
    scrub,
    secret_values,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Terminal console for the AMC-TRADER discovery system.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
log = logging.getLogger("amc_tui")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"amc-tui: {message}", err=True)
    return typer.Exit(code)


class _ScrubbingFormatter(logging.Formatter):
    """Formats records, then removes any configured secret from the line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self.secrets)


def _setup_logging(settings: Settings) -> None:
    """Send logs to the configured file; the terminal belongs to the UI."""
    path = settings.log_file
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(_ScrubbingFormatter(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis URL (REDIS_URL).")
    ] = None,
    api_url: Annotated[str | None, typer.Option(help="AMC API base URL.")] = None,
    queue: Annotated[str | None, typer.Option(help="Discovery queue name.")] = None,
    refresh: Annotated[float | None, typer.Option(help="Refresh interval, s.")] = None,
    strategy: Annotated[
        str | None, typer.Option(help="bms|hybrid_v1|legacy_v0")
    ] = None,
    read_only: Annotated[bool, typer.Option(help="Disable every mutation.")] = False,
    live: Annotated[bool, typer.Option(help="Allow live orders (with env).")] = False,
    bell: Annotated[bool, typer.Option(help="Ring on EXTREME/HIGH alerts.")] = False,
) -> None:
    """Run the console against a real AMC system (see `demo` to try it)."""
    cli = {
        "redis_url": redis_url,
        "amc_api_url": api_url,
        "discovery_queue": queue,
        "refresh_interval": refresh,
        "strategy": strategy,
        "read_only": read_only or None,
        "live": live or None,
        "bell": bell or None,
    }
    try:
        ctx.obj = load_settings(cli, config_path=config)
    except AmcTuiError as exc:
        raise _fail(exc.message) from None
    if ctx.invoked_subcommand is None:
        _run_console(ctx.obj, demo=False)


def _run_console(loaded: LoadedSettings, *, demo: bool) -> None:
    from amc_tui.environments import build_environment  # noqa: PLC0415

    _setup_logging(loaded.settings)
    what = "the demo (private Redis, DEMO market, paper broker)" if demo else "up"
    typer.echo(f"amc-tui: starting {what}…", err=True)
    # Build the environment (the demo starts Redis and scores a market) while
    # the main thread imports the UI: startup is dominated by these two.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(build_environment, loaded.settings, Clock(), demo=demo)
        from amc_tui.app import AmcTuiApp  # noqa: PLC0415 - keep `config` fast

        try:
            env = pending.result()
        except AmcTuiError as exc:
            raise _fail(exc.message) from None
    try:
        AmcTuiApp(env).run()
    finally:
        env.close()


@app.command()
def demo(ctx: typer.Context) -> None:
    """Run the console on its own: private Redis, demo market, paper broker."""
    _run_console(ctx.obj, demo=True)


def _parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise _fail(f"--size must look like 120x40, not {size!r}") from None
    return width, height


@app.command()
def snapshot(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", help="svg|text|json|markdown")
    ] = "text",
    output: Annotated[Path | None, typer.Option(help="Write here, not stdout.")] = None,
    size: Annotated[str, typer.Option(help="Terminal size for svg.")] = "160x48",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for panes.")] = 15.0,
    use_demo: Annotated[
        bool, typer.Option("--demo", help="Snapshot the demo.")
    ] = False,
) -> None:
    """Render the dashboard headless; exit 0 healthy, 1 degraded, 2 down, 3 failed."""
    from amc_tui import snapshot as shot  # noqa: PLC0415 - Textual only when needed
    from amc_tui.environments import build_environment  # noqa: PLC0415

    if fmt not in shot.FORMATS:
        raise _fail(f"--format must be one of {', '.join(shot.FORMATS)}")
    width_height = _parse_size(size)
    settings = ctx.obj.settings
    _setup_logging(settings)
    try:
        env = build_environment(settings, Clock(), demo=use_demo)
        try:
            text, code = shot.render(env, shot.collect(env, timeout), fmt, width_height)
        finally:
            env.close()
    except Exception as exc:  # noqa: BLE001 - exit 3 with one line; details in the log
        log.exception("snapshot failed")
        line = scrub(f"snapshot failed: {exc}", secret_values(settings))
        raise _fail(line, shot.EXIT_SNAPSHOT_FAILED) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    raise typer.Exit(code)


@app.command()
def config(ctx: typer.Context) -> None:
    """Print the effective configuration, where each value came from, redacted."""
    loaded: LoadedSettings = ctx.obj
    typer.echo(
        f"# config file: {loaded.path}{'' if loaded.path.exists() else ' (not found)'}"
    )
    rows = loaded.describe()
    width = max(len(row.env_name) for row in rows)
    for row in rows:
        typer.echo(f"{row.env_name:<{width}}  {row.value}   [{row.source}]")


@app.command()
def worker(
    ctx: typer.Context,
    queue: Annotated[list[str] | None, typer.Option(help="Queue(s) to serve.")] = None,
    burst: Annotated[
        bool, typer.Option(help="Exit when the queues are empty.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Worker name.")] = None,
) -> None:
    """Run an RQ worker for the console's jobs, writing the AMC heartbeat."""
    from services.worker import run_worker  # noqa: PLC0415

    settings = ctx.obj.settings
    if settings.redis_url is None:
        raise _fail("worker needs REDIS_URL (or --redis-url)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    queues = queue or [settings.discovery_queue]
    run_worker(settings.redis_url.get_secret_value(), queues, burst=burst, name=name)


@app.command()
def discover(
    ctx: typer.Context,
    use_demo: Annotated[
        bool, typer.Option("--demo", help="Use the demo market.")
    ] = False,
    strategy: Annotated[
        str | None, typer.Option(help="bms|hybrid_v1|legacy_v0")
    ] = None,
    in_process: Annotated[bool, typer.Option("--in-process")] = False,
    enqueue: Annotated[bool, typer.Option("--enqueue")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
    limit: Annotated[int, typer.Option(help="Candidates to keep.")] = 50,
) -> None:
    """Run one discovery from the shell (in-process unless --enqueue)."""
    from amc_tui.discover_cmd import format_table, run_discover  # noqa: PLC0415

    if in_process and enqueue:
        raise _fail("choose one of --in-process and --enqueue")
    if fmt not in {"table", "json"}:
        raise _fail("--format must be table or json")
    settings = ctx.obj.settings
    _setup_logging(settings)
    try:
        result: dict[str, Any] = run_discover(
            settings,
            demo=use_demo,
            strategy=strategy or settings.strategy,
            enqueue=enqueue,
            limit=limit,
        )
    except AmcTuiError as exc:
        raise _fail(exc.message, 1) from None
    if fmt == "json":
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        typer.echo(format_table(result), nl=False)


def main() -> None:
    """Console-script entry point."""
    app()
