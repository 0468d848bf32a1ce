"""Benchmark the cost that authentication adds to one request once keys are cached.

Measures, per request, the work the gateway does for a bearer token before any GraphQL runs. It
parses the Authorization header, reads the JWS header and picks the key by `kid`. It verifies the
signature and the claims, checks revocation (for the gateway's own tokens, in memory), builds the
principal, and checks one field's scopes. Three token kinds: the gateway's own RS256 access token, and RS256 and
ES256 tokens of an external identity provider whose JWKS an aiohttp server on loopback serves
(fetched once before timing starts).

Each token kind runs twice: with the verified-token cache off (`auth_token_cache_size = 0`, every
request verifies the signature) and on (the default: a token seen before skips the signature).
Prints a Markdown table of p50, p99 and mean in microseconds to stdout.

Usage: .venv/bin/python benchmarks/bench_auth.py [--requests 20000] [--warmup 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.auth.clients import new_client  # noqa: E402
from gateway.auth.middleware import authenticate  # noqa: E402
from gateway.auth.runtime import AuthServices  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from resolvers.permissions import check_scopes  # noqa: E402
from tests.auth.idp import IdentityProvider, IdpKey, user_claims  # noqa: E402

TARGET_US = 100.0


async def measure(auth: AuthServices, header: str, requests: int, warmup: int) -> list[float]:
    """Time `requests` authentications of `header` plus one scope check; return microseconds each."""
    for _ in range(warmup):
        check_scopes(await authenticate(auth, header), ("farms:read",), "farms")
    samples = []
    clock = time.perf_counter_ns
    for _ in range(requests):
        started = clock()
        principal = await authenticate(auth, header)
        check_scopes(principal, ("farms:read",), "farms")
        samples.append((clock() - started) / 1000)
    return samples


async def run_config(provider: IdentityProvider, cache_size: int, requests: int, warmup: int) -> list[tuple]:
    settings = load_settings(
        {},
        auth_anonymous="off",
        oauth_issuer="http://127.0.0.1/fishwatch",
        auth_issuers=[provider.issuer_settings()],
        auth_token_cache_size=cache_size,
    )
    auth = await AuthServices.open(settings)
    cache = "on" if cache_size else "off"
    try:
        client, _secret = new_client("bench", ["farms:read"], ["*"], [], "client")
        own = auth.server.issuer.issue(client, ["farms:read"]).value
        far = int(time.time()) + 3600
        tokens = {
            "gateway token, RS256": own,
            "identity provider, RS256": provider.keys[0].token(user_claims(exp=far)),
            "identity provider, ES256": provider.keys[1].token(user_claims(exp=far)),
        }
        rows = []
        for label, token in tokens.items():
            samples = await measure(auth, f"Bearer {token}", requests, warmup)
            ordered = sorted(samples)
            rows.append(
                (label, cache, ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)], statistics.fmean(samples))
            )
    finally:
        await auth.close()
    return rows


async def main(requests: int, warmup: int) -> None:
    provider = IdentityProvider([IdpKey.rsa(), IdpKey.ec()])
    await provider.start()
    try:
        rows = await run_config(provider, 0, requests, warmup) + await run_config(provider, 10_000, requests, warmup)
        fetches = provider.hits.get("/jwks", 0)
    finally:
        await provider.close()

    print(
        f"Date: {dt.date.today().isoformat()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"{requests} timed requests per row after {warmup} warm-up; JWKS fetches: {fetches}"
    )
    print()
    print("| Token | Token cache | p50 µs | p99 µs | mean µs | p50 under 100 µs |")
    print("|---|---|--:|--:|--:|---|")
    for label, cache, p50, p99, mean in rows:
        print(f"| {label} | {cache} | {p50:.1f} | {p99:.1f} | {mean:.1f} | {'yes' if p50 < TARGET_US else 'no'} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="timed requests per token kind (default 20000)")
    parser.add_argument("--warmup", type=int, default=2000, help="untimed requests first (default 2000)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.warmup))
