//! The engine over real files of every format, named as products of two
//! domains: exact results, lineage, classifications, refusals, the memory
//! budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType as Arrow, Field as ArrowField, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use futures::{StreamExt, TryStreamExt};
use mesh_protocol::contract::CsvDialect;
use mesh_protocol::descriptor::{Classification, DataType, Field, Format};
use mesh_query::{Engine, EngineConfig, Input, ProductRef, QueryError};

fn field(name: &str, t: DataType, class: Option<Classification>) -> Field {
    let mut f = Field::new(name, t, true);
    f.classification = class;
    f
}

fn input(named: &str, path: PathBuf, format: Format, fields: Vec<Field>) -> Input {
    let (domain, product) = named.split_once('.').unwrap();
    let (product, version) = product
        .split_once('@')
        .map_or((product, None), |(p, v)| (p, Some(v.parse().unwrap())));
    Input {
        named: ProductRef {
            domain: domain.into(),
            product: product.into(),
            version,
        },
        domain: domain.into(),
        product: product.into(),
        version: version.unwrap_or(1),
        path,
        format,
        csv: CsvDialect::default(),
        fields,
        conforms: Some(true),
    }
}

/// sales.orders (Parquet, int32 qty stored, int64 declared), crm.customers
/// (CSV with its columns in another order than declared and one bad age),
/// crm.visits (JSON Lines), crm.scores (Arrow IPC).
struct Mesh {
    dir: tempfile::TempDir,
    engine: Engine,
}

impl Mesh {
    fn new(memory: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path().join("spill"));
        config.memory_limit = memory;
        let engine = Engine::new(config).unwrap();
        let orders = dir.path().join("orders-blob");
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new("id", Arrow::Int64, false),
            ArrowField::new("customer", Arrow::Int64, false),
            ArrowField::new("qty", Arrow::Int32, false),
            ArrowField::new("price", Arrow::Float64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(Int64Array::from(vec![10, 20, 10, 30])),
            Arc::new(Int32Array::from(vec![2, 1, 5, 7])),
            Arc::new(Float64Array::from(vec![1.5, 10.0, 2.0, 3.0])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&orders).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        std::fs::write(
            dir.path().join("customers-blob"),
            "email,id,age\nann@x.org,10,41\nbob@x.org,20,old\n,30,25\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("visits-blob"),
            "{\"customer\":10,\"page\":\"/a\"}\n{\"customer\":10,\"page\":\"/b\"}\n{\"customer\":30,\"page\":null}\n",
        )
        .unwrap();
        let scores = dir.path().join("scores-blob");
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new("customer", Arrow::Int64, false),
            ArrowField::new("score", Arrow::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![10, 20])) as ArrayRef,
                Arc::new(Float64Array::from(vec![Some(0.5), None])),
            ],
        )
        .unwrap();
        let mut w = datafusion::arrow::ipc::writer::FileWriter::try_new(
            std::fs::File::create(&scores).unwrap(),
            &schema,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        Self { dir, engine }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn inputs(&self, products: &[ProductRef]) -> Vec<Input> {
        products
            .iter()
            .map(|p| {
                let named = p.to_string();
                match p.product.as_str() {
                    "orders" => input(
                        &named,
                        self.path("orders-blob"),
                        Format::Parquet,
                        vec![
                            field("id", DataType::Int64, Some(Classification::Public)),
                            field("customer", DataType::Int64, Some(Classification::Internal)),
                            field("qty", DataType::Int64, Some(Classification::Public)),
                            field(
                                "price",
                                DataType::Float64,
                                Some(Classification::Confidential),
                            ),
                        ],
                    ),
                    "customers" => {
                        let mut i = input(
                            &named,
                            self.path("customers-blob"),
                            Format::Csv,
                            vec![
                                field("id", DataType::Int64, Some(Classification::Internal)),
                                field("email", DataType::String, Some(Classification::Pii)),
                                field("age", DataType::Int32, Some(Classification::Pii)),
                                field("region", DataType::String, None),
                            ],
                        );
                        i.conforms = Some(false);
                        i
                    }
                    "visits" => input(
                        &named,
                        self.path("visits-blob"),
                        Format::Jsonl,
                        vec![
                            field("customer", DataType::Int64, Some(Classification::Internal)),
                            field("page", DataType::String, Some(Classification::Public)),
                        ],
                    ),
                    "scores" => input(
                        &named,
                        self.path("scores-blob"),
                        Format::Arrow,
                        vec![
                            field("customer", DataType::Int64, None),
                            field(
                                "score",
                                DataType::Float64,
                                Some(Classification::Confidential),
                            ),
                        ],
                    ),
                    other => panic!("no product {other}"),
                }
            })
            .collect()
    }

    async fn query(&self, sql: &str) -> Result<mesh_query::Query, QueryError> {
        let parsed = self.engine.parse(sql)?;
        let inputs = self.inputs(&parsed.products);
        self.engine.plan(parsed, inputs).await
    }

    async fn rows(&self, sql: &str) -> Result<String, QueryError> {
        let query = self.query(sql).await?;
        let batches: Vec<RecordBatch> = query
            .run()
            .await?
            .try_collect()
            .await
            .map_err(QueryError::from)?;
        Ok(pretty_format_batches(&batches).unwrap().to_string())
    }
}

fn spill_files(dir: &Path) -> usize {
    walk(dir)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() { walk(&p) } else { 1 }
            })
            .sum()
    })
}

#[tokio::test]
async fn a_join_across_two_domains_and_every_format_gives_exact_rows() {
    let mesh = Mesh::new(64 << 20);
    let table = mesh
        .rows(
            "SELECT c.email, c.age, sum(o.qty * o.price) AS spent, count(v.page) AS pages, max(s.score) AS score \
             FROM sales.orders o JOIN crm.customers c ON o.customer = c.id \
             LEFT JOIN crm.visits v ON v.customer = c.id \
             LEFT JOIN crm.scores s ON s.customer = c.id \
             GROUP BY c.email, c.age ORDER BY spent DESC",
        )
        .await
        .unwrap();
    // ann: orders 1 and 3 (2*1.5 + 5*2.0 = 13), each joined with 2 visits;
    // bob's age is not an int32 and reads as null; the third customer's
    // email is an empty cell, a null.
    let expected = "\
+-----------+-----+-------+-------+-------+
| email     | age | spent | pages | score |
+-----------+-----+-------+-------+-------+
| ann@x.org | 41  | 26.0  | 4     | 0.5   |
|           | 25  | 21.0  | 0     |       |
| bob@x.org |     | 10.0  | 0     |       |
+-----------+-----+-------+-------+-------+";
    assert_eq!(table, expected);
}

#[tokio::test]
async fn the_table_schema_is_the_declared_one_whatever_the_file_stores() {
    let mesh = Mesh::new(64 << 20);
    let query = mesh
        .query("SELECT qty, region, age FROM sales.orders, crm.customers LIMIT 1")
        .await
        .unwrap();
    let schema = query.schema();
    assert_eq!(
        schema.field(0).data_type(),
        &Arrow::Int64,
        "int32 stored, int64 declared"
    );
    assert_eq!(schema.field(1).data_type(), &Arrow::Utf8);
    assert_eq!(schema.field(2).data_type(), &Arrow::Int32);
    let table = mesh
        .rows("SELECT count(*) AS n, count(region) AS r FROM crm.customers")
        .await
        .unwrap();
    assert!(table.contains("| 3 | 0 |"), "{table}");
}

#[tokio::test]
async fn lineage_names_the_exact_inputs_and_classifications_follow_the_columns() {
    let mesh = Mesh::new(64 << 20);
    let query = mesh
        .query(
            "SELECT upper(c.email) AS contact, o.qty + 1 AS q, count(*) AS n, avg(c.age) AS mean_age, 'x' AS tag \
             FROM sales.orders@2 o JOIN crm.customers c ON o.customer = c.id \
             WHERE c.region IS NULL GROUP BY upper(c.email), o.qty + 1",
        )
        .await
        .unwrap();
    let mut inputs: Vec<String> = query.inputs().unwrap().iter().map(|i| i.exact()).collect();
    inputs.sort();
    assert_eq!(inputs, ["crm.customers@1", "sales.orders@2"]);
    let columns = query.columns().unwrap();
    let got: Vec<(&str, Option<Classification>)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.classification))
        .collect();
    assert_eq!(
        got,
        [
            ("contact", Some(Classification::Pii)),
            ("q", Some(Classification::Public)),
            ("n", None),
            ("mean_age", Some(Classification::Pii)),
            ("tag", None),
        ]
    );
    let customers = query
        .inputs_all()
        .iter()
        .position(|i| i.product == "customers")
        .unwrap();
    let contact: Vec<_> = columns[0].sources.iter().cloned().collect();
    assert_eq!(contact, [(customers, "email".to_owned())]);
    // Through a subquery, a union and a window, pii stays pii.
    let query = mesh
        .query(
            "SELECT x AS renamed, row_number() OVER (ORDER BY x) AS r FROM \
             (SELECT email AS x FROM crm.customers UNION ALL SELECT CAST(id AS VARCHAR) FROM sales.orders) \
             WHERE x IN (SELECT email FROM crm.customers)",
        )
        .await
        .unwrap();
    let columns = query.columns().unwrap();
    assert_eq!(columns[0].classification, Some(Classification::Pii));
    assert_eq!(columns[0].sources.len(), 2, "{:?}", columns[0].sources);
    assert_eq!(
        columns[1].classification,
        Some(Classification::Pii),
        "the window orders by pii"
    );
}

#[tokio::test]
async fn the_sql_forms_analysts_write_are_planned() {
    // EXTRACT, SUBSTRING ... FROM, POSITION ... IN and the string, date and
    // regex functions need DataFusion's expression planners, which its
    // feature flags turn on one by one.
    let mesh = Mesh::new(64 << 20);
    let table = mesh
        .rows(
            "SELECT extract(year FROM date '2024-05-01') AS y, \
             substring('abcdef' FROM 2 FOR 3) AS s, position('c' IN 'abc') AS p, \
             upper('x') || lower('Y') AS u, date_trunc('month', TIMESTAMP '2024-05-17 10:00:00') AS m, \
             regexp_like('abc', '^a') AS r, to_hex(255) AS h",
        )
        .await
        .unwrap();
    assert!(
        table.contains("| 2024 | bcd | 3 | Xy | 2024-05-01T00:00:00 | true | ff |"),
        "{table}"
    );
}

#[tokio::test]
async fn mistakes_are_the_users_and_say_what_is_wrong() {
    let mesh = Mesh::new(64 << 20);
    let cases = [
        ("SELEC 1", "syntax"),
        ("SELECT nope FROM sales.orders", "nope"),
        ("SELECT * FROM orders", "names no domain"),
        ("SELECT * FROM sales.orders@0", "version"),
        ("DROP TABLE sales.orders", "only queries"),
        ("CREATE TABLE x AS SELECT 1", "only queries"),
        ("SELECT 'a' + 1", ""),
        ("SELECT 1; SELECT 2", ""),
        ("EXPLAIN SELECT * FROM sales.orders", "--explain"),
    ];
    for (sql, says) in cases {
        match mesh.rows(sql).await {
            Err(QueryError::User(m)) => assert!(m.contains(says), "{sql}: {m}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_sort_beyond_a_small_budget_spills_and_answers_then_leaves_no_files() {
    let mesh = Mesh::new(256 << 10);
    let sql = "SELECT v, count(*) AS n FROM (SELECT id * 7919 % 100003 AS v FROM sales.orders, \
               (SELECT * FROM unnest(range(0, 30000))) r(k)) GROUP BY v ORDER BY n DESC, v LIMIT 3";
    match mesh.rows(sql).await {
        Ok(table) => assert!(table.contains("| v"), "{table}"),
        Err(QueryError::OutOfMemory(m)) => assert!(!m.is_empty()),
        Err(other) => panic!("neither an answer nor the budget: {other}"),
    }
    assert_eq!(spill_files(&mesh.path("spill")), 0, "spill files removed");
}

#[tokio::test]
async fn a_dropped_stream_cancels_the_query_and_leaves_no_spill_files() {
    let mesh = Mesh::new(256 << 10);
    let query = mesh
        .query(
            "SELECT k FROM (SELECT * FROM unnest(range(0, 3000000))) r(k) ORDER BY k * 7 % 1000003 DESC",
        )
        .await
        .unwrap();
    let mut stream = query.run().await.unwrap();
    let first = stream.next().await;
    assert!(first.is_some());
    drop(stream);
    assert_eq!(spill_files(&mesh.path("spill")), 0);
}

#[tokio::test]
async fn explain_names_the_products_and_versions_it_reads() {
    let mesh = Mesh::new(64 << 20);
    let query = mesh
        .query("SELECT count(*) FROM crm.visits@4 v JOIN sales.orders o ON v.customer = o.customer")
        .await
        .unwrap();
    let text = query.explain().await.unwrap();
    assert!(text.contains("crm.visits@4"), "{text}");
    assert!(text.contains("sales.orders@1"), "{text}");
    assert!(text.contains("physical plan"), "{text}");
    assert!(query.notes().unwrap().is_empty());
    let query = mesh.query("SELECT * FROM crm.customers").await.unwrap();
    let notes = query.notes().unwrap();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("crm.customers@1 does not conform"),
        "{notes:?}"
    );
}
