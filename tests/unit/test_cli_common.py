"""The CLI's shared pieces without a cluster: KIND/NAME as kubectl spells kinds, `send`'s --data and --header, the
command registry, and usage errors that name the problem."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from jobwire.api.kinds import AUTOMATION, SCHEDULE, SENSOR, WEBHOOK
from jobwire.cli import history, main, schedule_next, send
from jobwire.cli.common import CliError, parse_target, resolve_kind
from jobwire.cli.send import parse_headers, read_data


def jobwire(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the command, run in this process."""
    code = main.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("schedule", SCHEDULE),
        ("Schedules", SCHEDULE),
        ("jws", SCHEDULE),
        ("schedules.jobwire.io", SCHEDULE),
        ("schedule.jobwire.io", SCHEDULE),
        ("jwsn", SENSOR),
        ("sensors", SENSOR),
        ("Webhook", WEBHOOK),
        ("jwh", WEBHOOK),
        ("jwa", AUTOMATION),
        ("automations.jobwire.io", AUTOMATION),
    ],
)
def test_kinds_as_kubectl_spells_them(text: str, kind: object) -> None:
    assert resolve_kind(text) is kind


def test_targets() -> None:
    assert parse_target("jws/nightly") == (SCHEDULE, "nightly")
    assert parse_target("webhook/gh", (WEBHOOK,)) == (WEBHOOK, "gh")


@pytest.mark.parametrize(
    ("target", "allowed", "message"),
    [
        ("nightly", None, "expected schedule/NAME or sensor/NAME or webhook/NAME or automation/NAME, not 'nightly'"),
        ("schedule/", None, "not 'schedule/'"),
        ("a/b/c", None, "not 'a/b/c'"),
        ("cronjob/x", None, "unknown kind 'cronjob'"),
        ("schedule/x", (WEBHOOK,), "expected webhook/NAME, not 'schedule/x'"),
    ],
)
def test_bad_targets_are_usage_errors_that_say_what_is_expected(
    target: str, allowed: tuple[object, ...] | None, message: str
) -> None:
    with pytest.raises(CliError) as caught:
        parse_target(target) if allowed is None else parse_target(target, (WEBHOOK,))
    assert message in str(caught.value)
    assert caught.value.code == 2


def test_headers_take_equals_or_colon() -> None:
    assert parse_headers(["X-GitHub-Delivery=d-1", "Authorization: Bearer x", "X-A=b=c", "X-Empty="]) == [
        ("X-GitHub-Delivery", "d-1"),
        ("Authorization", "Bearer x"),
        ("X-A", "b=c"),
        ("X-Empty", ""),
    ]


@pytest.mark.parametrize("value", ["novalue", "=v", "two words=v", ": v"])
def test_a_header_without_a_name_is_a_usage_error(value: str) -> None:
    with pytest.raises(CliError, match="--header takes NAME=VALUE") as caught:
        parse_headers([value])
    assert caught.value.code == 2


def test_data_is_text_a_file_or_nothing(tmp_path: Path) -> None:
    body = tmp_path / "push.json"
    body.write_bytes(b'{"ref": "main"}\n')
    assert read_data(None) == b""
    assert read_data('{"a": 1}') == b'{"a": 1}'
    assert read_data(f"@{body}") == b'{"ref": "main"}\n'
    with pytest.raises(CliError, match=r"cannot read --data @/nonexistent/x\.json"):
        read_data("@/nonexistent/x.json")


def test_every_command_is_registered_and_runs_through_its_module() -> None:
    parser = main._parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"run", "schedule", "history", "describe", "send", "automation"} <= set(subcommands.choices)
    args = parser.parse_args(["history", "jws/x", "-n", "ns", "-o", "json"])
    assert args.handler is history.run
    assert (args.target, args.namespace, args.output, args.kubeconfig, args.context) == (
        "jws/x",
        "ns",
        "json",
        None,
        None,
    )
    assert parser.parse_args(["send", "jwh/x", "--data", "{}"]).handler is send.run
    assert parser.parse_args(["schedule", "next", "--cron", "* * * * *"]).handler is schedule_next.run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "cronjob/x"], "unknown kind 'cronjob'"),
        (["run", "webhook/x"], "expected schedule/NAME or sensor/NAME, not 'webhook/x'"),
        (["run", "schedule/x", "--probe-port", "1"], "apply to the operator, not to run KIND/NAME"),
        (["run", "schedule/x", "-n", "a", "-n", "b"], "run KIND/NAME takes one namespace"),
        (["run", "--wait"], "--wait and --timeout apply to run KIND/NAME"),
        (["run", "--context", "x"], "--context applies to run KIND/NAME"),
        (["send", "schedule/x"], "expected webhook/NAME"),
        (["send", "webhook/x", "--header", "nope"], "--header takes NAME=VALUE"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = jobwire(capsys, *args)
    assert code == 2, err
    assert err.startswith("jobwire: ")
    assert err.count("\n") == 1
    assert message in err
    assert out == ""


def test_a_missing_kubeconfig_is_said_plainly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    assert jobwire(capsys, "describe", "jws/x", "--kubeconfig", str(missing)) == (
        1,
        "",
        f"jobwire: kubeconfig {missing} does not exist\n",
    )
    monkeypatch.setenv("KUBECONFIG", str(missing))
    assert jobwire(capsys, "history", "jws/x") == (1, "", f"jobwire: KUBECONFIG={missing} names no file that exists\n")
