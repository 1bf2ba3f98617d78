"""The command line both template runners take: two positional arguments, repeated
`PAIR_FLAG NAME=VALUE` settings and one optional `--then SCRIPT`."""

import sys


def parse(prog, usage, pair_flag, argv):
    """Returns (first, second, {NAME: VALUE}, then or None); exits with a message naming
    `prog` on anything else."""

    def die(message):
        sys.exit(f"{prog}: {message}")

    if len(argv) < 2:
        die(usage)
    first, second, rest = argv[0], argv[1], iter(argv[2:])
    pairs, then = {}, None
    for flag in rest:
        value = next(rest, None)
        if value is None:
            die(f"{flag} needs a value")
        if flag == pair_flag:
            name, sep, text = value.partition("=")
            if not sep:
                die(f"{pair_flag} {value}: expected NAME=VALUE")
            pairs[name] = text
        elif flag == "--then":
            then = value
        else:
            die(f"unknown argument {flag}")
    return first, second, pairs, then
