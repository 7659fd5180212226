# The TPC-H queries of query_bench run by DuckDB over the same Parquet
# files: each table a view `tpch.<table>` over read_parquet. Every query
# runs `runs` times; prints one JSON object with the times and the rows of
# the last run (decimals as floats, dates as ISO text), so the Rust side
# can compare them with meshd's.
import datetime
import decimal
import json
import sys
import time

try:
    import duckdb
except ImportError as e:
    print(json.dumps({"error": f"duckdb is not importable: {e}"}))
    sys.exit(0)

data_dir, queries_file, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
queries = json.load(open(queries_file))
tables = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]

con = duckdb.connect()
con.execute(f"SET threads = {threads}")
# Its progress bar goes to stdout, which carries the JSON answer.
con.execute("SET enable_progress_bar = false")
con.execute("CREATE SCHEMA tpch")
for t in tables:
    con.execute(f"CREATE VIEW tpch.{t} AS SELECT * FROM read_parquet('{data_dir}/{t}.parquet')")


def value(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


out = []
for q in queries:
    seconds = []
    rows = []
    for _ in range(runs):
        t = time.perf_counter()
        rows = con.execute(q["sql"]).fetchall()
        seconds.append(time.perf_counter() - t)
    out.append({"n": q["n"], "seconds": seconds, "rows": [[value(v) for v in r] for r in rows]})
print(json.dumps({"version": duckdb.__version__, "threads": threads, "queries": out}))
