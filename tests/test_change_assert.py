"""The built-in ``assert`` task: that / fail_msg / success_msg, validated before the run."""

from __future__ import annotations

from pathlib import Path

from tests.change_control import make_project, run, statuses, workflow


def test_assert_fails_only_the_hosts_whose_expression_is_false(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=4)
    workflow(
        root,
        "check",
        """\
        workflow:
          name: check
          tasks:
            - name: assert
              args:
                that: ["host.data.n >= 0", "host.data.n < 2"]
                fail_msg: "n is too big on {{ host.name }}"
                success_msg: "n ok"
            - name: assert
              args: {that: "{{ host.data.n < 10 }}"}
        """,
    )
    res, data = run(root, "check")
    assert res.exit_code == 1
    assert statuses(data, 0) == {"h00": "ok", "h01": "ok", "h02": "failed", "h03": "failed"}
    assert data["tasks"][0]["hosts"]["h00"]["result"] == "n ok"
    assert data["tasks"][0]["hosts"]["h02"]["error"]["message"] == "n is too big on h02"
    # skip-failed: the failed hosts do not run the post-check
    assert statuses(data, 1) == {"h00": "ok", "h01": "ok", "h02": "skipped", "h03": "skipped"}
    assert "failed" in res.output


def test_assert_names_the_expression_when_no_fail_msg(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "c", 'workflow:\n  name: c\n  tasks:\n    - {name: assert, args: {that: ["1 == 2"]}}\n')
    res, data = run(root, "c")
    assert res.exit_code == 1
    assert data["tasks"][0]["hosts"]["h00"]["error"]["message"] == "assertion failed: 1 == 2"


def test_assert_bad_expression_or_missing_that_is_exit_3_before_the_run(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    bad = 'workflow:\n  name: bad\n  tasks:\n    - {name: assert, args: {that: ["1 =="]}}\n'
    workflow(root, "bad", bad)
    res, data = run(root, "bad")
    assert res.exit_code == 3 and data is None
    assert "bad.yaml" in res.output and "assert" in res.output and "args" in res.output
    workflow(root, "none", "workflow:\n  name: none\n  tasks:\n    - {name: assert, args: {fail_msg: x}}\n")
    res, _ = run(root, "none")
    assert res.exit_code == 3 and "needs 'that'" in res.output
