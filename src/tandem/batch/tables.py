"""Reading and writing tables: CSV, TSV, JSON Lines and Parquet, chosen by extension.

Everything goes through pyarrow. Two choices worth knowing:

- CSV and TSV columns are read as text. Type inference would turn ``007``
  into ``7`` and ``1.50`` into ``1.5``, and a batch run must give back the
  input columns unchanged, so they stay strings (cast them downstream).
  JSON Lines and Parquet keep their own types.
- CSV cannot hold nested values, so list and struct columns are written to
  CSV as JSON text; JSON Lines and Parquet keep them nested.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

__all__ = [
    "Format",
    "TableError",
    "fingerprint",
    "flatten_for_csv",
    "format_of",
    "read_table",
    "write_table",
]

Format = Literal["csv", "tsv", "jsonl", "parquet"]

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class TableError(ValueError):
    """A table cannot be read or written (unknown format, bad file)."""


def format_of(path: str | os.PathLike[str]) -> Format:
    """The table format named by ``path``'s extension."""
    suffix = Path(path).suffix.lower()
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        hint = " (JSON Lines files end in .jsonl)" if suffix == ".json" else ""
        known = ", ".join(sorted(_EXTENSIONS))
        raise TableError(f"{path}: unknown table format {suffix or '(no extension)'!r}{hint}; use one of {known}")
    return fmt


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read a CSV, TSV, JSON Lines or Parquet file into an Arrow table."""
    fmt = format_of(path)
    try:
        if fmt in ("csv", "tsv"):
            return _read_csv(path, "\t" if fmt == "tsv" else ",")
        if fmt == "jsonl":
            import pyarrow.json as pj  # type: ignore[import-untyped]

            return pj.read_json(path)
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        return pq.read_table(path)
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise TableError(f"{path}: cannot read {fmt}: {exc}") from None


def _read_csv(path: str | os.PathLike[str], delimiter: str) -> pa.Table:
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]

    parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    with pcsv.open_csv(path, parse_options=parse) as reader:
        names = reader.schema.names
    convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    return pcsv.read_csv(path, parse_options=parse, convert_options=convert)


def _json_text(column: pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v, default=str).decode() for v in column.to_pylist()],
        pa.string(),
    )


def flatten_for_csv(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        t = field.type
        if pa.types.is_nested(t) or (pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type)):
            table = table.set_column(i, pa.field(field.name, pa.string()), _json_text(table.column(i)))
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            table = table.set_column(i, field.name, pc.cast(table.column(i), pa.string(), safe=False))
    return table


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write ``table`` to ``path`` (format by extension), atomically: a reader
    never sees a half-written file and a crash leaves the old file in place."""
    fmt = format_of(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        _write(table, tmp, fmt)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(table: pa.Table, path: str, fmt: Format) -> None:
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv

        options = pcsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ",")
        pcsv.write_csv(flatten_for_csv(table), path, write_options=options)
    elif fmt == "jsonl":
        with open(path, "wb") as f:
            for batch in table.to_batches(max_chunksize=4096):
                for row in batch.to_pylist():
                    f.write(orjson.dumps(row, default=_json_default))
                    f.write(b"\n")
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def fingerprint(path: str | os.PathLike[str]) -> str:
    """A content hash of the file: the same bytes give the same checkpoint rows."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
