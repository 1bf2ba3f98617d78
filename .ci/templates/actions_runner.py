"""Runs a composite GitHub Action's steps as the GitHub runner does, for .ci/ci-templates.

Usage: actions_runner.py ACTION_YML OUT_DIR [--input NAME=VALUE]... [--then SCRIPT]

The job's environment is this process's: the caller sets RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP,
RUNNER_TOOL_CACHE, GITHUB_WORKSPACE and what the job's `env:` would hold. Per step, as the
runner does: `if:` (only `inputs.NAME == 'VALUE'`, compared case-insensitively), `${{ inputs.X }}`
and `${{ steps.ID.outputs.X }}` in `env:` (a `run:` holding any expression is refused: inputs
travel in env, never spliced into a script), fresh GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT
files (and GITHUB_STATE, GITHUB_STEP_SUMMARY, not read back), `bash --noprofile --norc -eo
pipefail FILE` with stdout and stderr merged; afterwards GITHUB_ENV (NAME=VALUE and
NAME<<DELIMITER) applies to later steps, GITHUB_PATH entries are prepended to PATH (the latest
first) and GITHUB_OUTPUT becomes steps.ID.outputs. `::add-mask::VALUE` masks VALUE in every
later line. `--then SCRIPT` runs after the action as a later workflow step (id "then").

Writes OUT_DIR/ID.log (what step ID printed), OUT_DIR/ID.masked.log (the log as the runner
shows it) and OUT_DIR/result.json: {"steps": {ID: {"outcome", "exit", "outputs"}}, "outputs":
the action's outputs, "env": the GITHUB_ENV values, "path": the GITHUB_PATH entries}. Stops at
the first failing step, as the runner does, and exits with its status.
"""

import json
import os
import re
import subprocess
import sys
import uuid

import yaml

import job_args

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STEP_KEYS = {"id", "name", "if", "shell", "env", "run"}


def die(message):
    sys.exit(f"actions_runner: {message}")


def input_values(action, given):
    declared = action.get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        die(f"the action has no input {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif spec.get("required") and "default" not in spec:
            die(f"input {name} is required")
        else:
            values[name] = str(spec.get("default", ""))
    return values


def evaluate(expr, ctx):
    m = re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)", expr)
    if m:
        if m[1] not in ctx["inputs"]:
            die(f"${{{{ {expr} }}}}: the action declares no input {m[1]}")
        return ctx["inputs"][m[1]]
    m = re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expr)
    if m:
        return ctx["steps"].get(m[1], {}).get("outputs", {}).get(m[2], "")
    die(f"unsupported expression ${{{{ {expr} }}}}")


def substitute(text, ctx):
    return EXPRESSION.sub(lambda m: evaluate(m[1], ctx), str(text))


def condition(expr, ctx):
    if expr is None:
        return True  # success(): every earlier step succeeded, or we would have stopped
    text = str(expr).strip()
    m = EXPRESSION.fullmatch(text)
    text = m[1] if m else text
    m = re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)\s*==\s*'([^']*)'", text)
    if not m:
        die(f"unsupported if: {expr}")
    return evaluate(f"inputs.{m[1]}", ctx).lower() == m[2].lower()


def read_file_command(path):
    """NAME=VALUE lines and NAME<<DELIMITER heredocs, as the runner parses them."""
    pairs = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq > 0 and (heredoc < 0 or eq < heredoc):
            name, value = line[:eq], line[eq + 1 :]
        elif heredoc > 0:
            name, delimiter, body = line[:heredoc], line[heredoc + 2 :], []
            while i < len(lines) and lines[i].rstrip("\r") != delimiter:
                body.append(lines[i].rstrip("\r"))
                i += 1
            if i == len(lines):
                die(f"{path}: {name}<<{delimiter} is never closed")
            i += 1
            value = "\n".join(body)
        else:
            die(f"{path}: malformed line {line!r}")
        pairs[name] = value
    return pairs


def masked(raw, masks):
    """The log as the runner shows it; registers ::add-mask:: values as it goes."""
    shown = []
    for line in raw.split("\n"):
        if line.startswith("::add-mask::"):
            value = line[len("::add-mask::") :].strip()
            if value:
                masks.append(value)
            continue
        for secret in sorted(masks, key=len, reverse=True):
            line = line.replace(secret, "***")
        shown.append(line)
    return "\n".join(shown)


def run_step(step_id, script, step_env, state, out_dir):
    job = state["job_env"]
    temp = job["RUNNER_TEMP"]
    files = {}
    os.makedirs(os.path.join(temp, "_runner_file_commands"), exist_ok=True)
    for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"):
        files[name] = os.path.join(temp, "_runner_file_commands", f"{name.lower()}_{uuid.uuid4()}")
        open(files[name], "w").close()
    env = dict(job)
    env.update(state["env"])
    env.update(step_env)
    env["PATH"] = os.pathsep.join(list(reversed(state["path"])) + [job["PATH"]])
    env.update(files)
    script_file = os.path.join(temp, f"{uuid.uuid4()}.sh")
    with open(script_file, "w", encoding="utf-8") as f:
        f.write(script)
    try:
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", script_file],
            env=env, cwd=job.get("GITHUB_WORKSPACE"), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
        )
        status, raw = proc.returncode, proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        status, raw = 124, (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out after 300 s)"
    with open(os.path.join(out_dir, f"{step_id}.log"), "w", encoding="utf-8") as f:
        f.write(raw)
    shown = masked(raw, state["masks"])
    with open(os.path.join(out_dir, f"{step_id}.masked.log"), "w", encoding="utf-8") as f:
        f.write(shown)
    print(f"--- step {step_id}: exit {status}")
    print(shown.rstrip("\n"))
    state["env"].update(read_file_command(files["GITHUB_ENV"]))
    with open(files["GITHUB_PATH"], encoding="utf-8") as f:
        state["path"] += [p.rstrip("\r") for p in f.read().split("\n") if p.strip()]
    return status, read_file_command(files["GITHUB_OUTPUT"])


def main():
    action_path, out_dir, given, then = job_args.parse("actions_runner", __doc__, "--input", sys.argv[1:])
    with open(action_path, encoding="utf-8") as f:
        action = yaml.safe_load(f)
    if action.get("runs", {}).get("using") != "composite":
        die("not a composite action")
    os.makedirs(out_dir, exist_ok=True)
    ctx = {"inputs": input_values(action, given), "steps": {}}
    state = {"job_env": dict(os.environ), "env": {}, "path": [], "masks": []}
    steps = list(action["runs"]["steps"])
    if then is not None:
        steps.append({"id": "then", "shell": "bash", "run": then})
    exit_status = 0
    for index, step in enumerate(steps):
        step_id = str(step.get("id", f"step{index}"))
        extra = set(step) - STEP_KEYS
        if extra or step.get("shell") != "bash" or "run" not in step:
            die(f"step {step_id}: only `run:` steps with `shell: bash` are emulated (has {sorted(step)})")
        if EXPRESSION.search(str(step["run"])):
            die(f"step {step_id}: its run: holds an expression; pass values in env:")
        if not condition(step.get("if"), ctx):
            ctx["steps"][step_id] = {"outcome": "skipped", "exit": None, "outputs": {}}
            print(f"--- step {step_id}: skipped (if: {step['if']})")
            continue
        step_env = {str(k): substitute(v, ctx) for k, v in (step.get("env") or {}).items()}
        status, outputs = run_step(step_id, str(step["run"]), step_env, state, out_dir)
        ctx["steps"][step_id] = {"outcome": "success" if status == 0 else "failure",
                                 "exit": status, "outputs": outputs}
        if status != 0:
            exit_status = status
            break
    result = {
        "steps": ctx["steps"],
        "outputs": {k: substitute(v.get("value", ""), ctx) for k, v in (action.get("outputs") or {}).items()},
        "env": state["env"],
        "path": state["path"],
    }
    with open(os.path.join(out_dir, "result.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    sys.exit(exit_status)


if __name__ == "__main__":
    main()
