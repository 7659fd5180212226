# The benchmark's checks as one DuckDB query over the same file: rows,
# nulls, min/max and exact distinct counts per column, and the contract's
# range, pattern, allowed-value and uniqueness violations. Prints one JSON
# line; `seconds` is the query alone (not Python's start).
import json
import sys
import time

try:
    import duckdb
except ImportError as e:
    print(json.dumps({"error": f"duckdb is not importable: {e}"}))
    sys.exit(0)

path, fmt = sys.argv[1], sys.argv[2]
cols = ["id", "qty", "price", "amount", "active", "day", "ts", "code", "status", "note"]
if fmt == "csv":
    source = (
        "read_csv(?, header=true, auto_detect=false, delim=',', quote='\"', "
        "columns={'id':'BIGINT','qty':'INTEGER','price':'DOUBLE','amount':'DECIMAL(12,2)',"
        "'active':'BOOLEAN','day':'DATE','ts':'TIMESTAMPTZ','code':'VARCHAR',"
        "'status':'VARCHAR','note':'VARCHAR'})"
    )
else:
    source = "read_parquet(?)"
parts = ["count(*) AS rows"]
for c in cols:
    parts += [
        f"count(*) - count({c}) AS nulls_{c}",
        f"min({c})::VARCHAR AS min_{c}",
        f"max({c})::VARCHAR AS max_{c}",
        f"count(DISTINCT {c}) AS distinct_{c}",
    ]
parts += [
    "count(*) FILTER (WHERE qty < 0 OR qty > 1000) AS range_qty",
    "count(*) FILTER (WHERE price < 0 OR price > 10000) AS range_price",
    "count(*) FILTER (WHERE amount < 0 OR amount > 100000) AS range_amount",
    "count(*) FILTER (WHERE day < DATE '2020-01-01' OR day > DATE '2030-12-31') AS range_day",
    "count(*) FILTER (WHERE NOT regexp_full_match(code, '[A-Z]{3}-[0-9]{4}')) AS pattern_code",
    "count(*) FILTER (WHERE status NOT IN ('new','paid','shipped','cancelled')) AS allowed_status",
    "count(id) - count(DISTINCT id) AS unique_dup_id",
]
sql = f"SELECT {', '.join(parts)} FROM {source}"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
cur = con.execute(sql, [path])
row = cur.fetchone()
seconds = time.perf_counter() - t
out = dict(zip([d[0] for d in cur.description], row))
out["seconds"] = seconds
out["threads"] = con.execute("SELECT current_setting('threads')").fetchone()[0]
out["version"] = duckdb.__version__
print(json.dumps(out, default=str))
