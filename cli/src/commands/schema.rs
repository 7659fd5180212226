//! `mesh schema infer`: a draft schema read off a data file, so a publisher
//! starts from the data instead of typing it.
//!
//! The whole file is read (streaming, bounded memory) by `mesh-data`; the
//! draft names every column with the narrowest type all its values fit and
//! whether nulls were seen. Classifications are left open for the owner:
//! guessing them would hide the one decision a person must make.

use std::fmt::Write as _;
use std::path::Path;

use mesh_data::{InferredField, InferredSchema, ReadOptions};
use mesh_protocol::descriptor::{DataType, Field, Format};

use crate::args::SchemaInferArgs;
use crate::error::{CliError, CliResult};

pub(super) fn infer(args: &SchemaInferArgs, json: bool) -> CliResult<()> {
    let format = match &args.format {
        Some(f) => f
            .parse::<Format>()
            .map_err(|e| CliError::usage(format!("--format: {e}")))?,
        None => mesh_node::node::guess_format(&args.file),
    };
    if !mesh_data::contract::profiles(&format) {
        return Err(CliError::usage(format!(
            "cannot read {} as {format}; meshd reads csv, jsonl, parquet and arrow (name one with --format)",
            args.file.display()
        )));
    }
    if !args.file.is_file() {
        return Err(CliError::usage(format!(
            "{} is not a readable file",
            args.file.display()
        )));
    }
    let mut opts = ReadOptions::new(format.clone());
    if let Some(d) = &args.delimiter {
        opts.csv.delimiter = single_byte(d, "--delimiter")?;
    }
    let inferred = mesh_data::infer(&args.file, &opts)
        .map_err(|e| CliError::failed(format!("{}: {e}", args.file.display())))?;
    let fields: Vec<Field> = inferred.fields.iter().map(field).collect();
    if json {
        return crate::output::json(&serde_json::json!({
            "file": args.file,
            "format": format.to_string(),
            "rows": inferred.rows,
            "fields": fields,
        }));
    }
    let text = if args.odcs {
        odcs(&args.file, &format, &fields)?
    } else {
        mesh_yaml(&args.file, &inferred, &fields)
    };
    crate::out!("{text}");
    Ok(())
}

fn single_byte(text: &str, flag: &str) -> CliResult<u8> {
    match text.as_bytes() {
        [b] => Ok(*b),
        _ if text == "\\t" || text == "tab" => Ok(b'\t'),
        _ => Err(CliError::usage(format!(
            "{flag} must be one ASCII character"
        ))),
    }
}

fn field(f: &InferredField) -> Field {
    f.declared()
}

fn type_name(t: DataType) -> String {
    format!("{t:?}").to_lowercase()
}

/// The draft as the `schema:` block of a meshd descriptor file.
fn mesh_yaml(path: &Path, inferred: &InferredSchema, fields: &[Field]) -> String {
    let mut out = format!(
        "# Draft schema read from {} ({} rows).\n# Fill in each field's classification (public, internal, confidential, pii)\n# and description, and add the constraints the data must keep.\nschema:\n  major: 1\n  fields:\n",
        path.display(),
        inferred.rows
    );
    for f in fields {
        write_field(&mut out, f, 4);
    }
    out
}

fn write_field(out: &mut String, f: &Field, indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(
        out,
        "{pad}- name: {}",
        crate::standards::yaml::text(&f.name)
    );
    let _ = writeln!(out, "{pad}  type: {}", type_name(f.data_type));
    let _ = writeln!(out, "{pad}  nullable: {}", f.nullable);
    let _ = writeln!(out, "{pad}  classification: null  # TODO");
    match f.data_type {
        DataType::Object if !f.children.is_empty() => {
            let _ = writeln!(out, "{pad}  fields:");
            for c in &f.children {
                write_field(out, c, indent + 4);
            }
        }
        DataType::Array => {
            if let Some(items) = f.children.first() {
                let _ = writeln!(out, "{pad}  items:");
                write_field(out, items, indent + 4);
            }
        }
        _ => {}
    }
}

/// The draft as an ODCS v3 schema object (one table), through the same
/// mapping `mesh export` uses.
fn odcs(path: &Path, format: &Format, fields: &[Field]) -> CliResult<String> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("table")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>();
    let mut draft = mesh_node::draft::ProductDraft::new(
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name
        } else {
            format!("t_{name}")
        },
        "draft",
        format.clone(),
    );
    draft.schema.major = 1;
    draft.schema.fields = fields.to_vec();
    let key = mesh_protocol::DomainKeypair::from_secret([7; 32]);
    let content = mesh_protocol::descriptor::Content {
        size: 0,
        chunk_size: 1 << 20,
        manifest_hash: mesh_protocol::Hash([0; 32]),
    };
    let descriptor = draft.into_descriptor(
        key.domain_id(),
        "draft",
        mesh_node::draft::Release {
            version: 1,
            content,
            created_at: mesh_protocol::Timestamp(0),
            deprecation: None,
            profile: None,
            derivation: None,
        },
    );
    let signed = mesh_protocol::Signed::sign(descriptor, &key);
    let doc = crate::standards::odcs::export(&signed);
    let schema = doc
        .get("schema")
        .cloned()
        .ok_or_else(|| CliError::failed("the ODCS mapping gave no schema"))?;
    Ok(crate::standards::yaml::to_string(&schema))
}
