#!/usr/bin/env python3
"""CreateUser + CreateAccessKey pairs per second against a running latchkey.

One boto3 IAM client (retries off), sequential requests, batches of --batch pairs;
prints each batch's rate and the median. Run by bench/load.sh; by hand:

    .venv/bin/python bench/write_pairs.py --endpoint http://127.0.0.1:8765 \
        --access-key-id AKIA... --secret ...
"""

import argparse
import statistics
import time
import uuid

import boto3
from botocore.config import Config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key-id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()

    iam = boto3.session.Session().client(
        "iam",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id=args.access_key_id,
        aws_secret_access_key=args.secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    # Warm the client (endpoint resolution, model loading) outside the timed batches.
    iam.get_user()

    run = uuid.uuid4().hex[:8]
    rates = []
    done = 0
    while done < args.pairs:
        n = min(args.batch, args.pairs - done)
        start = time.perf_counter()
        for i in range(done, done + n):
            name = f"bench-{run}-{i}"
            iam.create_user(UserName=name)
            iam.create_access_key(UserName=name)
        elapsed = time.perf_counter() - start
        rates.append(n / elapsed)
        done += n
        print(f"batch {len(rates)}: {n} pairs in {elapsed:.2f}s = {n / elapsed:.1f} pairs/s")
    print(f"write pairs/s (CreateUser+CreateAccessKey, sequential, median of {len(rates)} batches): "
          f"{statistics.median(rates):.1f}")


if __name__ == "__main__":
    main()
