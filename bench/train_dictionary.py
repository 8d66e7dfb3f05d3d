"""Train the zstd dictionary the raw store compresses with (telemetry/ingest/dictionaries/).

Samples are envelopes as they arrive at the fast path: the synthetic generator's events (with
content) and the real Claude Code fixtures (hook payloads and transcript records), so the dictionary
knows both shapes. The benchmark measures on sessions the dictionary never saw (another seed).

usage: python bench/train_dictionary.py [--out PATH] [--events N] [--size BYTES]
"""

import argparse
import sys
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import envelopes_generate, fixture_envelopes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "telemetry/ingest/dictionaries/events-v1.zdict"))
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--size", type=int, default=112640)
    args = parser.parse_args()
    samples = envelopes_generate(args.events, seed=1001) + fixture_envelopes()
    zdict = zstandard.train_dictionary(args.size, samples, threads=2)
    Path(args.out).write_bytes(zdict.as_bytes())
    print(f"trained {len(zdict.as_bytes())} bytes on {len(samples)} samples -> {args.out}")


if __name__ == "__main__":
    main()
