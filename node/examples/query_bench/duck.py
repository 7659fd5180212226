# DuckDB's side of query_bench, kept running beside the node so that the
# two engines take turns query by query (A B A B) and a drift of the
# machine's speed falls on both. Each table is a view `tpch.<table>` over
# read_parquet of the same files the node publishes.
#
# Protocol, one JSON object per line: it first prints {"version", "threads"}
# (or {"error"} and exits); then for each line {"sql"} read on stdin it
# runs the statement once and prints {"seconds", "rows"} (decimals as
# floats, dates as ISO text, so the Rust side can compare them with
# meshd's), or {"error"}.
import datetime
import decimal
import json
import sys
import time

try:
    import duckdb
except ImportError as e:
    print(json.dumps({"error": f"duckdb is not importable: {e}"}), flush=True)
    sys.exit(0)

data_dir, threads = sys.argv[1], int(sys.argv[2])
tables = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]

con = duckdb.connect()
con.execute(f"SET threads = {threads}")
# Its progress bar goes to stdout, which carries the answers.
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


print(json.dumps({"version": duckdb.__version__, "threads": threads}), flush=True)
for line in sys.stdin:
    try:
        sql = json.loads(line)["sql"]
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        seconds = time.perf_counter() - t
        answer = {"seconds": seconds, "rows": [[value(v) for v in r] for r in rows]}
    except Exception as e:  # one failed query must not end the others
        answer = {"error": str(e)}
    print(json.dumps(answer), flush=True)
