"""Make N gateway keys for load tests: the keys for the client, their hashes for the config.

    python benchmarks/gen_keys.py 100 --out /tmp/fastgw-keys
    # -> /tmp/fastgw-keys/keys.txt   one key per line   (FASTGW_KEYS_FILE for locustfile.py)
    #    /tmp/fastgw-keys/keys.toml  [[keys]] tables     (append to the gateway's config)

For load tests only: the keys are written in clear next to their hashes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastgw.keys import hash_key, new_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--out", type=Path, default=Path("fastgw-keys"))
    parser.add_argument("--prefix", default="load", help="key ids are <prefix>-<n>")
    args = parser.parse_args(argv)
    keys = [new_key() for _ in range(args.count)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "keys.txt").write_text("".join(f"{k}\n" for k in keys))
    tables = (
        f'[[keys]]\nid = "{args.prefix}-{i}"\nhash = "{hash_key(k)}"\n\n'
        for i, k in enumerate(keys)
    )
    (args.out / "keys.toml").write_text("".join(tables))
    print(f"{args.count} keys: {args.out / 'keys.txt'} (client), {args.out / 'keys.toml'} (config)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
