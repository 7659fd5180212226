//! DuckDB beside the node: `duck.py` in a `python3` process that stays up
//! for the whole run and answers one statement per request, so that the
//! bench can alternate the two engines query by query.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A running DuckDB with the TPC-H views over the bench's files.
pub(crate) struct Duck {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// DuckDB's version, as it reported it.
    pub(crate) version: String,
}

impl Duck {
    /// Starts DuckDB over the Parquet files in `dir` with `threads`
    /// threads; fails when python3 or the duckdb module is missing.
    pub(crate) fn start(dir: &Path, threads: usize) -> anyhow::Result<Self> {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(include_str!("duck.py"))
            .arg(dir)
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("python3 did not start")?;
        let input = child.stdin.take().context("no stdin")?;
        let output = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut duck = Self {
            child,
            input,
            output,
            version: String::new(),
        };
        let hello = duck.answer()?;
        if let Some(e) = hello.get("error") {
            bail!("{e}");
        }
        hello["version"]
            .as_str()
            .unwrap_or("?")
            .clone_into(&mut duck.version);
        Ok(duck)
    }

    /// Runs `sql` once: its seconds and rows.
    pub(crate) fn run(&mut self, sql: &str) -> anyhow::Result<(f64, Vec<Value>)> {
        writeln!(self.input, "{}", json!({ "sql": sql }))?;
        self.input.flush()?;
        let answer = self.answer()?;
        if let Some(e) = answer.get("error") {
            bail!("DuckDB: {e}");
        }
        let seconds = answer["seconds"].as_f64().context("no seconds")?;
        let rows = answer["rows"].as_array().cloned().unwrap_or_default();
        Ok((seconds, rows))
    }

    fn answer(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        // The node is idle while DuckDB works; this thread may wait.
        tokio::task::block_in_place(|| self.output.read_line(&mut line))?;
        if line.is_empty() {
            bail!("DuckDB's process ended");
        }
        Ok(serde_json::from_str(&line)?)
    }
}

impl Drop for Duck {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
