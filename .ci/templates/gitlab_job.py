"""Runs a GitLab CI template job's before_script (then a job script) as a GitLab runner with a
bash shell does, for .ci/ci-templates.

Usage: gitlab_job.py TEMPLATE_YML JOB [--var NAME=VALUE]... [--then SCRIPT]

The environment is this process's plus the job's `variables:`, each value expanded against the
variables known so far ($NAME and ${NAME}, unknown ones empty, as GitLab expands them), then
the --var values (CI/CD settings variables, which take precedence over the YAML's). The
before_script lines and SCRIPT run in one `bash --noprofile --norc` process, after
`set -eo pipefail` as the runner's generated script has it. Exits with that shell's status.
"""

import os
import re
import subprocess
import sys

import yaml

import job_args

REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def die(message):
    sys.exit(f"gitlab_job: {message}")


def main():
    template, job_name, settings, then = job_args.parse("gitlab_job", __doc__, "--var", sys.argv[1:])
    then = then or ""
    with open(template, encoding="utf-8") as f:
        job = yaml.safe_load(f).get(job_name)
    if not isinstance(job, dict) or "before_script" not in job:
        die(f"{template} has no job {job_name} with a before_script")
    env = dict(os.environ)
    for name, value in (job.get("variables") or {}).items():
        value = value["value"] if isinstance(value, dict) else value
        env[str(name)] = REFERENCE.sub(lambda m: env.get(m[1] or m[2], ""), str(value))
    env.update(settings)
    lines = [str(line) for line in job["before_script"]]
    script = "set -eo pipefail\n" + "\n".join(lines) + "\n" + then + "\n"
    print(f"--- before_script of {job_name}, then the job's script")
    sys.stdout.flush()
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=env,
                          cwd=env.get("CI_PROJECT_DIR"), stdin=subprocess.DEVNULL, timeout=300)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
