"""Does the site stay fast as the data grows?

For each size a separate local stack is brought up (its own state dir, seeded with that many
articles), then: edge-hit throughput (wrk on one cached article page, pinned to CPU 0) and
cold-render p95 (wrk over 200 different article pages straight from the app server with a signed
fresh-render parameter, so the page and fragment caches are bypassed).

    python -m bench.datasize --sizes 10000,100000 [--seconds 5]

Writes bench/results/datasize-<date>.json. ``make bench`` runs it at 10k, 100k and 1M articles (1M seeds
for about 25 minutes on 2 CPUs).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from bench import wrk
from bench.results import save
from bench.run import MANAGE, ROOT, bring_up, sh


def measure(size: int, seconds: int) -> dict:
    state = ROOT / "var" / "bench" / f"datasize-{size}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev", "UPSTACK_STATE_DIR": str(state)}
    try:
        stack_env, status, app = bring_up(size, env, timeout=7200)
        signed = [line for line in sh([sys.executable, "-m", "bench.site", "--signed-newest", "200"],
                                      env={**os.environ, **stack_env}).splitlines() if line.startswith("/")]
        article = signed[0].split("?")[0]
        wrk.run(status["edge_url"], [wrk.get(article)], 1, 4)  # cache it
        return {"articles": size, "edge_hit": wrk.run(status["edge_url"], [wrk.get(article)], seconds, 16),
                "cold_render": wrk.run(app, [wrk.get(path) for path in signed], seconds, 4)}
    finally:
        sh([*MANAGE, "upstack", "down"], env=env, check=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    rows = [measure(int(size), args.seconds) for size in args.sizes.split(",")]
    result = {"date": date.today().isoformat(), "cpus": os.cpu_count(), "rows": rows}
    save("datasize", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())



