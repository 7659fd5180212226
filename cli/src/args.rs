//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::product_ref::ProductRef;

/// Exit codes, shown in `mesh --help`.
const EXIT_CODES: &str = "Exit codes: 0 success, 1 operational failure (no node, wrong token, unknown product, failed fetch), 2 usage error (bad arguments, missing or invalid input file).

The node is found from --data-dir (its node-info.json and api.token), or from MESH_API and MESH_TOKEN (or --token-file). A token file readable by other users is refused.";

/// `mesh`: publish, find and fetch data products on a meshd data mesh.
#[derive(Parser, Debug)]
#[command(name = "mesh", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// How to reach the node.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON for scripts instead of tables and text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the node.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Data directory of the node to talk to (default: $MESH_DATA_DIR or
    /// ~/.local/share/meshd).
    #[arg(long, global = true, env = "MESH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// API address of the node, e.g. 127.0.0.1:7420 (overrides the data
    /// directory's).
    #[arg(long, global = true, env = "MESH_API")]
    pub api: Option<String>,
    /// API token (overrides the data directory's api.token). Visible to
    /// every local user in `ps`: prefer MESH_TOKEN or --token-file.
    #[arg(long, global = true, env = "MESH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token (mode 0600; overrides --token,
    /// MESH_TOKEN and the data directory's api.token).
    #[arg(long, global = true, env = "MESH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The node: domain, PeerId, addresses, peers, catalog size, version.
    Status,
    /// Connected peers.
    Peers,
    /// Publish a file as a data product of this node's domain.
    Publish(PublishArgs),
    /// Write a product's descriptor as ODPS (and its schema as ODCS).
    Export(ExportArgs),
    /// List and search the catalog.
    List(ListArgs),
    /// One product: descriptor, signature, versions, providers.
    Show(ShowArgs),
    /// Fetch a product's bytes, verified, to a file.
    Fetch(FetchArgs),
    /// Re-run a product's contract check on the node's verified copy
    /// (fetching it first if needed); exit 0 conforms, 1 broken.
    Check(CheckArgs),
    /// The first rows of a product, from the node's verified copy.
    Preview(PreviewArgs),
    /// SQL over data products: tables are DOMAIN.PRODUCT (the latest
    /// version) or DOMAIN.PRODUCT@VERSION; inputs the node lacks are
    /// fetched first. Exit 2 for a mistake in the statement.
    Query(QueryArgs),
    /// A product's upstream and downstream products across domains: a
    /// tree, or Graphviz DOT with --dot.
    Lineage(LineageArgs),
    /// Work with schemas: infer a draft from a data file.
    Schema {
        /// What to do.
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Withdraw one of this domain's products.
    Withdraw(WithdrawArgs),
    /// Mark one of this domain's products deprecated.
    Deprecate(DeprecateArgs),
    /// The federation: create a genesis file, show the current state.
    Federation {
        /// What to do.
        #[command(subcommand)]
        command: FederationCommand,
    },
    /// Propose a change to the federation (a policy, a member, the quorum).
    Propose(ProposeArgs),
    /// The current slot: its consensus round, each member's round votes,
    /// and every proposal with its status and every member's vote.
    Proposals {
        /// Only proposals still open or approved (not the failed ones).
        #[arg(long)]
        open: bool,
    },
    /// Approve or reject a proposal as this node's domain, with a reason.
    Vote {
        /// Proposal id, or a unique prefix of it.
        proposal: String,
        /// yes or no.
        choice: Choice,
        /// Why (shown to every member; required to reject).
        #[arg(long, short = 'r')]
        reason: Option<String>,
    },
    /// Ask the owner of an owner-granted product for read access.
    Request(RequestArgs),
    /// Access requests and grants: about this domain's products
    /// (incoming) and this domain's own requests (outgoing).
    Requests(RequestsArgs),
    /// Grant a domain read access to one of this domain's products.
    #[command(visible_alias = "approve")]
    Grant(GrantArgs),
    /// Turn down a domain's access request.
    Deny(DenyArgs),
    /// Withdraw a domain's grant.
    Revoke(RevokeArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Start three nodes on loopback, publish on one, fetch on another.
    Demo(DemoArgs),
}

/// A vote.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Approve.
    Yes,
    /// Reject.
    No,
}

/// Add or remove.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Add.
    Add,
    /// Remove.
    Remove,
}

/// `mesh federation ...`.
#[derive(Subcommand, Debug)]
pub enum FederationCommand {
    /// Write the genesis file of a new federation (offline; every founding
    /// member then runs `meshd run --genesis FILE`).
    Create(CreateArgs),
    /// The federation: id, members, quorum, version, policies, evidence.
    Show,
}

/// `mesh federation create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The federation's name.
    #[arg(long)]
    pub name: String,
    /// A founding member as NAME=PUBKEY (the key from its `mesh status` or
    /// domain.json); repeatable.
    #[arg(long = "member", value_name = "NAME=PUBKEY")]
    pub members: Vec<String>,
    /// A founding member's domain.json; repeatable.
    #[arg(long = "member-file", value_name = "FILE")]
    pub member_files: Vec<PathBuf>,
    /// Quorum: yes votes must be more than this fraction of the members.
    #[arg(long, default_value = "2/3")]
    pub quorum: String,
    /// A policy in force from the start (e.g. require-owner); repeatable.
    #[arg(long = "policy", value_name = "RULE")]
    pub policies: Vec<String>,
    /// Where to write the genesis file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `mesh propose ...`.
#[derive(Args, Debug)]
pub struct ProposeArgs {
    /// What to change.
    #[command(subcommand)]
    pub change: ProposeChange,
    /// Why, shown to voters.
    #[arg(long, global = true, default_value = "")]
    pub reason: String,
    /// How long votes count: 30s, 10m, 2h, 7d.
    #[arg(long, global = true, default_value = "7d")]
    pub expires_in: String,
}

/// A change to propose.
#[derive(Subcommand, Debug)]
pub enum ProposeChange {
    /// Put a policy rule in force or take it out: require-owner,
    /// require-classification, pii-never-public, require-quality,
    /// schema-compatibility, allowed-formats=csv,parquet,
    /// max-retention-days=N, name-pattern=REGEX.
    Policy {
        /// add or remove.
        action: Action,
        /// The rule.
        rule: String,
    },
    /// Admit a domain (NAME and PUBKEY) or remove a member (its name or id).
    Member {
        /// add or remove.
        action: Action,
        /// The domain's name (add) or name or id (remove).
        domain: String,
        /// The domain's public key (add only).
        key: Option<String>,
    },
    /// Change the quorum, e.g. 3/4.
    Quorum {
        /// Yes votes must be more than this fraction of the members.
        quorum: String,
    },
}

/// `mesh publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The file to publish.
    pub file: PathBuf,
    /// Product name within the domain: lowercase letters, digits, `-` and
    /// `_`, starting with a letter.
    #[arg(long)]
    pub name: Option<String>,
    /// Descriptor: meshd YAML, or an ODPS v1.0.0 product file.
    #[arg(long)]
    pub descriptor: Option<PathBuf>,
    /// ODCS v3 contract: schema, quality rules and SLA.
    #[arg(long)]
    pub contract: Option<PathBuf>,
    /// The contract's table this product publishes (required when the
    /// contract's `schema` lists more than one).
    #[arg(long, requires = "contract")]
    pub table: Option<String>,
    /// Title (default: the name).
    #[arg(long)]
    pub title: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Format: csv, jsonl, json, parquet, avro, arrow or another name
    /// (default: from the file's extension).
    #[arg(long)]
    pub format: Option<String>,
}

/// `mesh export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// Where to write the ODPS document (`.json` for JSON, else YAML).
    #[arg(long)]
    pub odps: PathBuf,
    /// Where to write the ODCS contract.
    #[arg(long)]
    pub odcs: Option<PathBuf>,
}

/// `mesh list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this domain (name or id).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only products with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only products with a field of this classification.
    #[arg(long)]
    pub classification: Option<String>,
    /// Words that must all appear in name, title, description or tags.
    #[arg(long)]
    pub text: Option<String>,
    /// Include deprecated products.
    #[arg(long)]
    pub all: bool,
}

/// `mesh show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// An earlier version the node still keeps.
    #[arg(long)]
    pub version: Option<u64>,
}

/// `mesh check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// A version the node keeps (default: the newest).
    #[arg(long)]
    pub version: Option<u64>,
}

/// `mesh query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// One SQL statement, e.g. "SELECT region, count(*) FROM sales.orders GROUP BY region".
    pub sql: String,
    /// Print the result as CSV.
    #[arg(long)]
    pub csv: bool,
    /// Write the result to a file (.parquet, .csv, .jsonl or .arrow).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// At most this many rows (a table on a terminal shows 100 unless told).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print the plan and the products (and versions) it reads instead of
    /// running the query.
    #[arg(long)]
    pub explain: bool,
    /// Publish the result as a new version of this product of this
    /// domain; its schema, classifications and lineage come from the
    /// query.
    #[arg(long, value_name = "NAME")]
    pub publish: Option<String>,
    /// The derived product's title (default: its name).
    #[arg(long, requires = "publish")]
    pub title: Option<String>,
    /// The derived product's description.
    #[arg(long, requires = "publish")]
    pub description: Option<String>,
    /// A tag of the derived product (repeatable).
    #[arg(long = "tag", requires = "publish")]
    pub tags: Vec<String>,
    /// The derived product's format: parquet (default) or arrow.
    #[arg(long, requires = "publish")]
    pub format: Option<String>,
    /// A meshd YAML descriptor for the rest of the derived product
    /// (owner, access, quality, retention); not its schema or lineage.
    #[arg(long, requires = "publish")]
    pub descriptor: Option<PathBuf>,
}

/// `mesh lineage`.
#[derive(Args, Debug)]
pub struct LineageArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// Print the graph in Graphviz DOT instead of a tree.
    #[arg(long)]
    pub dot: bool,
}

/// `mesh preview`.
#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// How many rows (1 to 1000).
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
    /// A version the node keeps (default: the newest).
    #[arg(long)]
    pub version: Option<u64>,
}

/// `mesh schema ...`.
#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Print a draft schema read off a data file (every row is read).
    Infer(SchemaInferArgs),
}

/// `mesh schema infer`.
#[derive(Args, Debug)]
pub struct SchemaInferArgs {
    /// The data file (CSV with a header row, JSON Lines, Parquet, Arrow IPC).
    pub file: PathBuf,
    /// Its format (default: from the file name's extension).
    #[arg(long)]
    pub format: Option<String>,
    /// CSV cell delimiter (default `,`; `tab` for tabs).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Print an ODCS v3 schema object instead of meshd YAML.
    #[arg(long)]
    pub odcs: bool,
}

/// `mesh fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// Only if this is the current version.
    #[arg(long)]
    pub version: Option<u64>,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `mesh withdraw`.
#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// NAME or DOMAIN/NAME of one of this node's products.
    pub product: String,
    /// Why, shown to consumers.
    #[arg(long, default_value = "withdrawn by its owner")]
    pub reason: String,
}

/// `mesh deprecate`.
#[derive(Args, Debug)]
pub struct DeprecateArgs {
    /// NAME or DOMAIN/NAME of one of this node's products.
    pub product: String,
    /// Why, shown to consumers.
    #[arg(long)]
    pub reason: String,
    /// The product to use instead (DOMAIN/NAME).
    #[arg(long)]
    pub successor: Option<ProductRef>,
}

/// `mesh request`.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// DOMAIN/NAME.
    pub product: ProductRef,
    /// Why this domain needs the data (shown to the owner).
    #[arg(long)]
    pub reason: String,
}

/// `mesh requests`.
#[derive(Args, Debug)]
pub struct RequestsArgs {
    /// Only requests still waiting for an answer.
    #[arg(long)]
    pub pending: bool,
    /// Only requests about this domain's products.
    #[arg(long, conflicts_with = "outgoing")]
    pub incoming: bool,
    /// Only this domain's own requests.
    #[arg(long)]
    pub outgoing: bool,
}

/// `mesh grant`.
#[derive(Args, Debug)]
pub struct GrantArgs {
    /// NAME or DOMAIN/NAME of one of this node's products.
    pub product: String,
    /// The domain to grant: its name or id.
    pub domain: String,
    /// How long the grant lasts: 30s, 10m, 2h, 30d (default: until revoked).
    #[arg(long)]
    pub expires: Option<String>,
}

/// `mesh deny`.
#[derive(Args, Debug)]
pub struct DenyArgs {
    /// NAME or DOMAIN/NAME of one of this node's products.
    pub product: String,
    /// The domain that asked: its name or id.
    pub domain: String,
    /// Why, shown to the requester.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `mesh revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// NAME or DOMAIN/NAME of one of this node's products.
    pub product: String,
    /// The domain whose grant ends: its name or id.
    pub domain: String,
}

/// `mesh demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Size of the sample product in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub bytes: u64,
    /// Keep the temporary data directories (their paths are printed).
    #[arg(long)]
    pub keep: bool,
}
