"""Parquet shards of one split, bounded in rows and bytes, named as the Hub names them; and the split
each document goes to.

Parts of the dataset are written side by side, each into its own shards (`ShardSeries`, named after the
part); once all are written, the shards of a split are renamed in part order to the Hub's names
(`name_for_the_hub`), so the rows keep the input order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from docqa.output.schema import FEATURES


def split_of(group: str, test_fraction: float) -> str:
    """The split of a group of near-copy documents, from the hash of its first document id: all windows
    of a document and of its near-copies land in the same split."""
    return "test" if int(group[:8], 16) < test_fraction * 16**8 else "train"


def row_bytes(row: dict[str, Any]) -> int:
    """About what a row weighs in Parquet: its images (already compressed) and its texts."""
    return sum(len(image["bytes"]) for image in row["images"]) + len(json.dumps(row["texts"])) + 1024


class ShardSeries:
    """One split's shards of one part: rows in row groups of at most `row_group_rows` rows and
    `row_group_mb`, a new file once a shard holds `max_rows` rows or would pass `max_mb`."""

    def __init__(
        self, folder: Path, split: str, part: int, max_rows: int, row_group_rows: int, max_mb: float, row_group_mb: float
    ):
        self.folder, self.split, self.part = folder, split, part
        self.max_rows, self.row_group_rows = max_rows, row_group_rows
        self.max_bytes, self.row_group_bytes = max_mb * 1e6, row_group_mb * 1e6
        self.paths: list[Path] = []
        self.rows: list[dict[str, Any]] = []  # the row group being filled
        self._group_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_rows = self._shard_bytes = 0  # written to the open shard

    def add(self, row: dict[str, Any]) -> None:
        size = row_bytes(row)
        shard_rows = self._shard_rows + len(self.rows)
        if shard_rows and (shard_rows >= self.max_rows or self._shard_bytes + self._group_bytes + size > self.max_bytes):
            self._write_group()
            self._close_shard()
        elif self.rows and (len(self.rows) >= self.row_group_rows or self._group_bytes + size > self.row_group_bytes):
            self._write_group()
        self.rows.append(row)
        self._group_bytes += size

    def _write_group(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self.paths.append(self.folder / f"{self.split}-part{self.part:05d}-{len(self.paths):05d}.parquet")
            self._writer = pq.ParquetWriter(self.paths[-1], FEATURES.arrow_schema)
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=FEATURES.arrow_schema))
        self._shard_rows += len(self.rows)
        self._shard_bytes += self._group_bytes
        self.rows, self._group_bytes = [], 0

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._shard_rows, self._shard_bytes = None, 0, 0

    def close(self) -> list[str]:
        """The shards' file names, in row order."""
        self._write_group()
        self._close_shard()
        return [path.name for path in self.paths]


def name_for_the_hub(folder: Path, split: str, names: list[str]) -> None:
    """Rename a split's shards, given in row order, to the Hub's `{split}-{i:05d}-of-{n:05d}.parquet`."""
    for i, name in enumerate(names):
        (folder / name).rename(folder / f"{split}-{i:05d}-of-{len(names):05d}.parquet")
