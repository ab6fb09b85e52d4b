"""`aftercare policy validate FILE...`: check policies before they reach a running journey; `aftercare policy
reload`: have the running API re-read its policy directory (an admin token in AFTERCARE_TOKEN).

Problem lines are plain `file:line:col: path: message`, so editors and CI annotate them; the summary
above them is a rich table. Exit status 1 if any file has a problem, so it can gate a deploy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aftercare.settings import Settings
from aftercare.support_cli import CliError, open_api, problem_of
from aftercare.terminal import wide_console
from policies.loader import LoadedPolicy, PolicyError, PolicyProblem, duplicate_merchants, load_policy, policy_files


@dataclass
class _Checked:
    path: str
    loaded: LoadedPolicy | None = None
    problems: list[PolicyProblem] = field(default_factory=list)


def validate_command(paths: list[str], *, console: Console | None = None) -> int:
    """Validate every file (directories expand to their *.yaml files); 0 if all are ok, else 1.

    Merchant ids must also be distinct across everything checked: a directory is what a worker loads.
    """
    console = console or wide_console()
    checked: list[_Checked] = []
    seen: set[Path] = set()  # a file named twice (or inside a named directory) is checked once
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            checked.append(_Checked(raw, problems=[PolicyProblem(raw, 1, 1, "", "no such file or directory")]))
            continue
        files = policy_files(path)
        if not files:
            message = "no *.yaml policy files in this directory"
            checked.append(_Checked(raw, problems=[PolicyProblem(raw, 1, 1, "", message)]))
        for file in files:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                checked.append(_check(file))

    by_path = {c.path: c for c in checked}
    for problem in duplicate_merchants(c.loaded for c in checked if c.loaded is not None):
        by_path[problem.file].problems.append(problem)

    table = Table.grid(padding=(0, 2))
    for c in checked:
        if c.problems:
            count = f"{len(c.problems)} problem{'s' if len(c.problems) != 1 else ''}"
            table.add_row(Text("FAIL", style="bold red"), Text(c.path), Text(count, style="red"))
        elif c.loaded is not None:
            table.add_row(
                Text("ok", style="bold green"),
                Text(c.path),
                Text(f"merchant={c.loaded.merchant_id}"),
                Text(f"hash={c.loaded.hash}"),
                Text(f"variants={len(c.loaded.policy.variants)}"),
            )
    console.print(table)

    failed = [c for c in checked if c.problems]
    for c in failed:
        for problem in c.problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if failed:
        total = sum(len(c.problems) for c in failed)
        console.print(Text(f"{len(failed)} of {len(checked)} checked with problems ({total} in all)", style="red"))
        return 1
    return 0


def reload_command(settings: Settings, *, console: Console | None = None) -> int:
    """Ask the running API to reload its policies; print merchants and hashes, or every problem (exit 1)."""
    console = console or wide_console()
    try:
        with open_api(settings) as api:
            try:
                response = api.post("/v1/policies/reload")
            except httpx.HTTPError as err:
                raise CliError(f"could not reach the API at {api.base_url}: {err}") from err
    except CliError as err:
        console.print(f"[bold red]refused[/]: {err}")
        return 1
    if response.status_code == 422 and response.json().get("error") == "invalid_policies":
        problems = response.json().get("problems", [])
        for problem in problems:
            console.print(problem, markup=False, highlight=False, soft_wrap=True)
        console.print(Text(f"not reloaded: {len(problems)} problem(s); the policies in use are unchanged", "red"))
        return 1
    if response.status_code >= 400:
        console.print(f"[bold red]refused[/]: {problem_of(response)}", highlight=False)
        return 1
    answer = response.json()
    table = Table(title=f"policies reloaded from {answer['directory']}", header_style="bold")
    for column in ("merchant", "hash", "change", "variants", "file"):
        table.add_column(column)
    styles = {"added": "green", "changed": "yellow", "removed": "red", "unchanged": "dim"}
    for row in answer["policies"]:
        change = Text(row["change"], style=styles.get(row["change"], ""))
        table.add_row(row["merchant_id"], row["hash"] or "-", change, str(row["variants"]), row["path"])
    console.print(table)
    console.print("running journeys keep the policy they started with; new orders get these")
    return 0


def _check(file: Path) -> _Checked:
    try:
        return _Checked(str(file), loaded=load_policy(file))
    except PolicyError as exc:
        return _Checked(str(file), problems=exc.problems)
    except OSError as exc:
        return _Checked(str(file), problems=[PolicyProblem(str(file), 1, 1, "", f"cannot read: {exc.strerror}")])


def main(argv: list[str] | None = None) -> int:
    """`python -m aftercare.policy_cli validate FILE...` (the `aftercare` CLI calls validate_command)."""
    parser = argparse.ArgumentParser(prog="aftercare policy", description="Aftercare policy tools")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check policy files; print every problem with file:line")
    validate.add_argument("paths", nargs="+", help="policy files, or directories of *.yaml files")
    args = parser.parse_args(argv)
    return validate_command(args.paths)


if __name__ == "__main__":
    sys.exit(main())
