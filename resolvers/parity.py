"""``make parity``: Prowler and assetlake side by side on one moto account with known problems.

Starts moto in server mode on a free 127.0.0.1 port, seeds it (:func:`seed_core` plus the few
misconfigurations it lacks), runs Prowler (from its own venv, ``.parity/venv``) and
``assetlake scan aws`` + :func:`evaluate` against the same endpoint, and writes
``docs/parity.md``: for each seeded problem, the Prowler check ids and the assetlake rule ids that
failed on the seeded resource, and the wall time of each tool. moto is stopped whatever happens.

Run: ``.venv/bin/python -m resolvers.parity [--prowler PATH] [--out docs/parity.md]``.
Not part of ``make test`` (it needs Prowler, and takes about a minute).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from resolvers.parity_seed import REGION, Problem, problems, seed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROWLER = ROOT / ".parity" / "venv" / "bin" / "prowler"
PROWLER_TIMEOUT = 1800.0
SCAN_TIMEOUT = 900.0


@dataclass
class Result:
    """What one tool reported: ``(check or rule id, resource)`` pairs that failed, and time."""

    tool: str
    version: str
    seconds: float
    failures: set[tuple[str, str]] = field(default_factory=set)
    detail: str = ""  # phases, exit code, counts
    error: str | None = None


def tool_env(endpoint: str) -> dict[str, str]:
    """The environment both tools run in: moto's endpoint, fake credentials, one region."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    return env


def prowler_version(prowler: Path) -> str:
    """``prowler --version``'s answer, or ``unknown``."""
    try:
        done = subprocess.run(
            [str(prowler), "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError:
        return "unknown"
    line = (done.stdout.strip().splitlines() or ["unknown"])[-1]
    return line.removeprefix("Prowler ").strip()


def run_prowler(prowler: Path, endpoint: str, work: Path) -> Result:
    """Prowler on us-east-1, OCSF output, no retries (moto answers 500 to what it lacks)."""
    version = prowler_version(prowler)
    out = work / "prowler"
    argv = [
        str(prowler), "aws", "-f", REGION, "-M", "json-ocsf", "-o", str(out), "-F", "parity",
        "--no-banner", "--no-color", "--aws-retries-max-attempts", "0",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, env=tool_env(endpoint), capture_output=True, text=True,
            timeout=PROWLER_TIMEOUT, check=False, start_new_session=True,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return Result("Prowler", version, time.monotonic() - started, error=repr(error))
    seconds = time.monotonic() - started
    (work / "prowler.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    path = out / "parity.ocsf.json"
    if not path.exists():
        tail = (done.stderr or done.stdout)[-500:]
        return Result("Prowler", version, seconds, error=f"exit {done.returncode}: {tail}")
    findings = json.loads(path.read_text(encoding="utf-8"))
    result = Result("Prowler", version, seconds)
    fails, checks = 0, set()
    for finding in findings:
        check = finding.get("metadata", {}).get("event_code", "")
        checks.add(check)
        if finding.get("status_code") != "FAIL":
            continue
        fails += 1
        for resource in finding.get("resources", []):
            ref = f"{resource.get('uid', '')} {resource.get('name', '')}"
            result.failures.add((check, ref))
    result.detail = (
        f"exit code {done.returncode} (3 = some checks FAIL); {len(findings)} findings from "
        f"{len(checks)} checks, {fails} FAIL"
    )
    return result


def run_assetlake(endpoint: str, work: Path) -> Result:
    """``assetlake scan aws`` into a fresh lake, then ``evaluate(lake, full=True)``."""
    from resolvers.compliance.evaluate import evaluate
    from resolvers.compliance.sinks import AlertConfig
    from resolvers.lake.storage import Lake

    version = metadata.version("assetlake")
    lake_dir = work / "lake"
    cli = shutil.which("assetlake", path=str(Path(sys.executable).parent)) or "assetlake"
    argv = [cli, "scan", "aws", "--regions", REGION, "--lake", str(lake_dir), "--no-progress"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, env=tool_env(endpoint), capture_output=True, text=True,
            timeout=SCAN_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return Result("assetlake", version, time.monotonic() - started, error=repr(error))
    scanned = time.monotonic() - started
    (work / "assetlake-scan.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-500:]
        return Result("assetlake", version, scanned, error=f"scan exit {done.returncode}: {tail}")
    lake = Lake(str(lake_dir))
    began = time.monotonic()
    outcome = evaluate(lake, full=True, alerts=AlertConfig(sinks=()), send=False)
    judged = time.monotonic() - began
    rows = lake.scan("findings").select("rule_id", "asset_key", "status").collect()
    result = Result("assetlake", version, scanned + judged)
    result.failures = {(rule, key) for rule, key, _ in rows.iter_rows()}
    result.detail = (
        f"scan {scanned:.1f} s + evaluate {judged:.1f} s; {outcome.assets} assets, "
        f"{len(rows)} findings, {outcome.rule_errors} rule errors"
    )
    return result


def found(
    failures: Iterable[tuple[str, str]], ids: Sequence[str], markers: Sequence[str]
) -> list[str]:
    """The ids among ``ids`` that failed on a resource matching one of ``markers``."""
    hits = {check for check, ref in failures if check in ids and any(m in ref for m in markers)}
    return [check for check in ids if check in hits]


def cell(ids: Sequence[str], expected: Sequence[str], ran: bool) -> str:
    """A table cell: the ids that caught the problem, or why none did."""
    if not ran:
        return "not run"
    if ids:
        return "yes: " + ", ".join(f"`{i}`" for i in ids)
    if not expected:
        return "no (no rule for it)"
    return "**no**"


def render(
    answer: Sequence[Problem],
    prowler: Result,
    assetlake: Result,
    context: Mapping[str, str],
    notes: Sequence[str],
) -> str:
    """docs/parity.md: the side-by-side table, the times, the versions and the notes."""
    rows, counts = [], {"p": 0, "a": 0}
    for problem in answer:
        p_ids = found(prowler.failures, problem.prowler, problem.markers)
        a_ids = found(assetlake.failures, problem.assetlake, problem.markers)
        counts["p"] += bool(p_ids)
        counts["a"] += bool(a_ids)
        p_cell = cell(p_ids, problem.prowler, prowler.error is None)
        a_cell = cell(a_ids, problem.assetlake, assetlake.error is None)
        rows.append(f"| {problem.title} | {p_cell} | {a_cell} |")
    total = len(answer)
    lines = [
        "# Parity with Prowler",
        "",
        "Generated by `make parity` (`python -m resolvers.parity`): one moto account seeded with",
        "known misconfigurations, scanned by Prowler and by assetlake against the same endpoint.",
        "A problem counts as found when one of the listed check or rule ids failed on the seeded",
        "resource itself.",
        "",
        f"- Date: {context['date']}",
        f"- Prowler {prowler.version}; assetlake {assetlake.version}; moto {context['moto']}; "
        f"Python {context['python']}",
        f"- Seeded problems found: **Prowler {counts['p']}/{total}, "
        f"assetlake {counts['a']}/{total}**",
        "",
        "| Seeded problem | Found by Prowler (check ids) | Found by assetlake (rule ids) |",
        "|---|---|---|",
        *rows,
        "",
        "## Wall time (us-east-1 only, same moto server)",
        "",
        "| Tool | Wall time | Detail |",
        "|---|---|---|",
    ]
    for result in (prowler, assetlake):
        detail = result.detail if result.error is None else f"failed: {result.error}"
        lines.append(f"| {result.tool} | {result.seconds:.1f} s | {detail} |")
    lines += ["", "## Notes", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)


def notes_for(prowler: Result, seeded_snapshot: str) -> list[str]:
    """What a reader must know to judge the numbers."""
    snapshot_noise = sum(
        1
        for check, ref in prowler.failures
        if check == "ec2_ebs_snapshots_encrypted" and seeded_snapshot not in ref
    )
    return [
        "Prowler ran with `--aws-retries-max-attempts 0`: moto answers HTTP 500 to the calls it "
        "does not implement, and with retries the back-off alone takes minutes. Prowler's time "
        "includes writing its OCSF output; assetlake's is the CLI scan plus one full evaluation.",
        "Noise: moto makes a snapshot for every AMI it knows and returns them to "
        "`DescribeSnapshots(OwnerIds=['self'])`, so Prowler's `ec2_ebs_snapshots_encrypted` "
        "FAILs on snapshots nobody seeded (about 1,300 with moto's default AMI list; the moto "
        "server here loads one public AMI, and "
        f"{snapshot_noise} FAILs of that check were on snapshots other than the seeded one). "
        "Only failures on the seeded resources count in the table.",
        "Checks that cannot run on moto: Prowler's s3control calls (account-level S3 public "
        "access block) go to `<account>.127.0.0.1:<port>` and fail; the Lambda code download "
        "(secrets in code) goes to a presigned amazonaws.com URL and fails; many other services "
        "answer 500 for unimplemented actions. None of the seeded problems depends on them.",
        "Seeding for Prowler's definitions: Prowler skips security groups no network interface "
        "uses (unless `--scan-unused-services`), so `ssh-open` is attached to an instance; "
        "`rds_instance_no_public_access` PASSes "
        "a `PubliclyAccessible` instance unless a security group opens its port and a subnet "
        "routes to an internet gateway, so orders-db gets both. assetlake flags both without "
        "those conditions.",
        "`cloudtrail_multi_region_enabled` PASSes a logging single-region trail when the scan "
        "covers only its region (Prowler checks that every scanned region has a logging "
        "trail, not the trail's own setting); assetlake reads `IsMultiRegionTrail`.",
        "Prowler's secret scan (Kingfisher) flagged `parity-report`'s random AWS-shaped key "
        "pair, not `thumbnailer`'s `DB_PASSWORD=hunter2` (low entropy), nor AWS's documented "
        "`...EXAMPLE` key pair, which is why the pair is generated at run time.",
        "assetlake has no rule for secrets in Lambda environment variables (it stores the "
        "variables with their values redacted), so it cannot see them; a known gap.",
        "Only the resource types both tools cover are seeded; each tool also reports many "
        "other findings (Prowler: default VPC, IMDSv2, password policy, ...), not counted here.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Seed, run both tools, write the report; stop moto whatever happens."""
    from resolvers.aws.scan_moto import MotoServer

    parser = argparse.ArgumentParser(
        description="Prowler and assetlake side by side on a seeded moto account."
    )
    parser.add_argument("--prowler", type=Path, default=DEFAULT_PROWLER)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "parity.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if not args.prowler.exists():
        print(f"Prowler not found at {args.prowler} (make parity installs it)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="assetlake-parity-"))
    server = MotoServer.start()
    try:
        print(f"moto on {server.endpoint}; seeding", file=sys.stderr)
        seeded = seed(server.endpoint)
        answer = problems(seeded)
        (work / "answer-key.json").write_text(
            json.dumps([p.__dict__ for p in answer], indent=2), encoding="utf-8"
        )
        print("running assetlake", file=sys.stderr)
        assetlake = run_assetlake(server.endpoint, work)
        print(f"  {assetlake.seconds:.1f} s {assetlake.error or ''}", file=sys.stderr)
        print("running Prowler", file=sys.stderr)
        prowler = run_prowler(args.prowler, server.endpoint, work)
        print(f"  {prowler.seconds:.1f} s {prowler.error or ''}", file=sys.stderr)
    finally:
        server.stop()
    context = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "moto": metadata.version("moto"),
        "python": platform.python_version(),
    }
    text = render(answer, prowler, assetlake, context, notes_for(prowler, seeded["snapshot"]))
    args.out.write_text(text, encoding="utf-8")
    print(text)
    if args.keep:
        print(f"work folder: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if prowler.error is None and assetlake.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
