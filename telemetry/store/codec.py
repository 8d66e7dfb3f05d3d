"""Compression of raw events into stored units.

A unit is one or more events of one session, framed and compressed together with zstd and a
dictionary trained on real event shapes. A single event compresses ~4x this way; a unit of several
events of one session ~7x or better, which is why the store re-packs small units (see repack.py).

Each stored unit records its codec id, and the `raw_codecs` table keeps each codec's name and
dictionary bytes, so a new dictionary or algorithm can be introduced later while old units stay
readable.

Unit framing (before compression): u32 count, count x u32 lengths (little endian), then the events.
"""

import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

DICTIONARY_DIR = Path(__file__).resolve().parent / "dictionaries"
_U32 = struct.Struct("<I")


class CorruptUnit(ValueError):
    """A stored unit does not decode: wrong codec, damaged bytes, or bad framing."""


@dataclass(eq=False)  # identity is the id; eq=False keeps it hashable and usable as a default
class Codec:
    """zstd at a fixed level with an optional dictionary. Compressors are per thread (not thread-safe)."""

    id: int
    name: str
    level: int
    dictionary: bytes | None
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def _dict(self) -> zstandard.ZstdCompressionDict | None:
        if self.dictionary is None:
            return None
        if not hasattr(self._local, "dict"):
            d = zstandard.ZstdCompressionDict(self.dictionary)
            d.precompute_compress(level=self.level)
            self._local.dict = d
        return self._local.dict

    def _compressor(self) -> zstandard.ZstdCompressor:
        if not hasattr(self._local, "compressor"):
            zdict = self._dict()
            # A checksum catches damaged units; the dictionary id is redundant with the stored codec id.
            options = {"level": self.level, "write_checksum": True, "write_dict_id": False}
            self._local.compressor = (
                zstandard.ZstdCompressor(dict_data=zdict, **options)
                if zdict
                else zstandard.ZstdCompressor(**options)
            )
        return self._local.compressor

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        if not hasattr(self._local, "decompressor"):
            zdict = self._dict()
            self._local.decompressor = (
                zstandard.ZstdDecompressor(dict_data=zdict) if zdict else zstandard.ZstdDecompressor()
            )
        return self._local.decompressor

    def pack(self, events: list[bytes]) -> bytes:
        """Frame and compress events (in order) into one unit."""
        header = _U32.pack(len(events)) + b"".join(_U32.pack(len(e)) for e in events)
        return self._compressor().compress(header + b"".join(events))

    def unpack(self, blob: bytes) -> list[bytes]:
        """The events of a unit, in the order they were packed."""
        try:
            data = self._decompressor().decompress(blob)
        except zstandard.ZstdError as exc:
            raise CorruptUnit(f"codec {self.name}: {exc}") from None
        if len(data) < 4:
            raise CorruptUnit("unit shorter than its header")
        (count,) = _U32.unpack_from(data, 0)
        offset = 4 + 4 * count
        if offset > len(data):
            raise CorruptUnit("unit header claims more events than it holds")
        events = []
        for i in range(count):
            (length,) = _U32.unpack_from(data, 4 + 4 * i)
            events.append(data[offset : offset + length])
            offset += length
        if offset != len(data):
            raise CorruptUnit("unit lengths do not add up to its size")
        return events


def _load_dictionary(filename: str) -> bytes:
    return (DICTIONARY_DIR / filename).read_bytes()


# Codecs this code base can write. Ids are stored with every unit and never reused.
_EVENTS_V1 = _load_dictionary("events-v1.zdict")
# The fast path compresses at level 1 (2.8 us per event against 4.5 at level 3; 7.0x against 7.7x in
# a backlog's per-session units); the re-packer, off the hot path, at level 9 (8.7x on whole
# sessions). Measured with bench/fastpath.py on generated events with content.
CURRENT = Codec(id=1, name="zstd1+dict:events-v1", level=1, dictionary=_EVENTS_V1)
REPACK = Codec(id=2, name="zstd9+dict:events-v1", level=9, dictionary=_EVENTS_V1)
BUILTIN: dict[int, Codec] = {c.id: c for c in (CURRENT, REPACK)}
