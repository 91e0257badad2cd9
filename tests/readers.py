"""The README's reader snippets, run as written, then checked: tests/readers.rs runs this.

stdin: {"snippets": [root, pyarrow, duckdb, polars, spark], "homes": {layout: HOME}, "days": [...]}.
Each layout's HOME holds an export at ~/02luka/g/analytics. Prints one JSON report.
"""
import datetime
import json
import os
import sys

job = json.load(sys.stdin)
root_code, *readers = job["snippets"]
days = job["days"]

# Spark in local mode, made before the snippet's getOrCreate(), which then returns it: two
# cores, no UI, and a session zone of UTC so that shown times are the stored instants.
from pyspark.sql import SparkSession  # noqa: E402

(SparkSession.builder.master("local[2]").appName("readers-test")
 .config("spark.ui.enabled", "false")
 .config("spark.sql.shuffle.partitions", "2")
 .config("spark.sql.session.timeZone", "UTC")
 .getOrCreate().sparkContext.setLogLevel("ERROR"))


def per_day_from_timestamp(pairs):
    out = {}
    for ts, n in pairs:
        d = ts.astimezone(datetime.timezone.utc).date().isoformat()
        out[d] = out.get(d, 0) + n
    return out


def own_map_type():
    import tempfile
    import pyarrow as pa
    import pyarrow.parquet as pq
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "own.parquet")
        checks = pa.array([[("disk", "ok")]], type=pa.map_(pa.string(), pa.string()))
        pq.write_table(pa.table({"checks": checks}), path)
        return str(pq.read_schema(path).field("checks").type)


def inspect(ns, hive):
    """What each reader saw: rows per day, the types of timestamp/checks/day/instance."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import polars as pl
    from pyspark.sql import types as T

    seen = {}
    t = ns["table"]
    schema = t.schema
    if hive:
        by_day = t.group_by("day").aggregate([("record_id", "count")]).to_pylist()
        counts = {r["day"]: r["record_id_count"] for r in by_day}
    else:
        dates = pc.strftime(t["timestamp"], format="%Y-%m-%d")
        vc = pc.value_counts(dates).to_pylist()
        counts = {r["values"]: r["counts"] for r in vc}
    seen["pyarrow"] = {
        "rows_per_day": counts,
        "timestamp": str(schema.field("timestamp").type),
        "checks_is_map": pa.types.is_map(schema.field("checks").type),
        "partitions": {c: str(schema.field(c).type) for c in ("day", "instance") if c in schema.names},
        # pyarrow prints a Parquet map's entries under the column's name: the same for a map
        # pyarrow wrote itself, so the name comes from the reader, not from our file.
        "checks_type": str(schema.field("checks").type),
        "own_map_type": own_map_type(),
    }

    rel = ns["rel"]
    types = dict(zip(rel.columns, [str(x) for x in rel.types]))
    if hive:
        q = "SELECT CAST(day AS VARCHAR), count(*) FROM rel GROUP BY ALL"
    else:
        q = "SELECT strftime(\"timestamp\" AT TIME ZONE 'UTC', '%Y-%m-%d'), count(*) FROM rel GROUP BY ALL"
    seen["duckdb"] = {
        "rows_per_day": dict(ns["duckdb"].sql(q).fetchall()),
        "timestamp": types["timestamp"],
        "checks_is_map": types["checks"].startswith("MAP("),
        "partitions": {c: types[c] for c in ("day", "instance") if c in types},
    }
    root = ns["root"]
    seen["duckdb_any_file"] = ns["duckdb"].sql(f"SELECT count(*) FROM read_parquet('{root}/**')").fetchall()[0][0]

    f = ns["frame"]
    if hive:
        g = f.group_by(pl.col("day").cast(pl.String)).len()
    else:
        g = f.group_by(pl.col("timestamp").dt.strftime("%Y-%m-%d").alias("day")).len()
    seen["polars"] = {
        "rows_per_day": dict(g.iter_rows()),
        "timestamp": str(f.schema["timestamp"]),
        "checks_is_map": isinstance(f.schema["checks"], pl.Map),
        "partitions": {c: str(f.schema[c]) for c in ("day", "instance") if c in f.schema},
    }

    sdf = ns["sdf"]
    fields = {fl.name: fl.dataType for fl in sdf.schema.fields}
    if hive:
        rows = sdf.groupBy(sdf["day"].cast("string")).count().collect()
    else:
        from pyspark.sql import functions as F
        rows = sdf.groupBy(F.date_format("timestamp", "yyyy-MM-dd")).count().collect()
    seen["spark"] = {
        "rows_per_day": {r[0]: r[1] for r in rows},
        # TimestampType is Spark's instant (UTC-adjusted); TimestampNTZType would be wall time.
        "timestamp": type(fields["timestamp"]).__name__,
        "checks_is_map": isinstance(fields["checks"], T.MapType),
        "partitions": {c: type(fields[c]).__name__ for c in ("day", "instance") if c in fields},
    }
    return seen


def pruned(ns, day):
    """Rows of `day` when every other day's files are garbage: a reader that opened one of
    them would fail, so a count is proof that the filter on `day` skipped those files."""
    import pyarrow.dataset as ds
    import polars as pl
    root = ns["root"]
    d = datetime.date.fromisoformat(day)
    out = {}
    attempts = {
        "pyarrow": lambda: ds.dataset(root, partitioning="hive").to_table(filter=ds.field("day") == day).num_rows,
        "duckdb": lambda: ns["duckdb"].sql(
            f"SELECT count(*) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true) WHERE day = DATE '{day}'").fetchall()[0][0],
        "polars": lambda: pl.scan_parquet(root, hive_partitioning=True).filter(pl.col("day") == d).select(pl.len()).collect().item(),
        "spark": lambda: ns["spark"].read.parquet(root).filter(f"day = DATE'{day}'").count(),
    }
    for name, attempt in attempts.items():
        try:
            out[name] = attempt()
        except Exception as e:  # the reader's own message, for the test's failure
            out[name] = f"{type(e).__name__}: {str(e)[:300]}"
    return out


report = {}
for layout, home in job["homes"].items():
    os.environ["HOME"] = home
    ns = {}
    exec(root_code, ns)
    for code in readers:
        exec(code, ns)
    hive = layout == "hive"
    entry = {"root": ns["root"], "seen": inspect(ns, hive)}
    if hive:
        # The first day's file stays whole: readers take the schema from the first file.
        for dirpath, _, files in os.walk(ns["root"]):
            if f"day={days[0]}" not in dirpath:
                for name in files:
                    with open(os.path.join(dirpath, name), "wb") as fh:
                        fh.write(b"PAR1 not a parquet file PAR1")
        entry["pruned"] = pruned(ns, days[0])
    report[layout] = entry
print(json.dumps(report))
