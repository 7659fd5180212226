//! Federated governance from the terminal: write a genesis, show the
//! federation, propose changes, list proposals, vote.

use std::collections::BTreeSet;

use mesh_node::governance::{FederationView, ProposalView};
use mesh_protocol::governance::{Genesis, Member, Quorum};
use mesh_protocol::{DomainPublicKey, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Action, Choice, CreateArgs, ProposeArgs, ProposeChange};
use crate::connect::Api;
use crate::error::{CliError, CliResult};
use crate::output;

/// The products' compliance with the federation's rules; `None` when the
/// node runs no federation.
pub(super) fn compliance(
    api: &Api,
    product: Option<&mesh_protocol::ProductId>,
) -> CliResult<Option<Vec<mesh_node::governance::Compliance>>> {
    let path = match product {
        Some(p) => format!(
            "/v1/compliance?product={}",
            crate::connect::encode_query(&p.to_string())
        ),
        None => "/v1/compliance".to_owned(),
    };
    match api.get(&path) {
        Ok(list) => Ok(Some(list)),
        Err(CliError::Api { code, .. }) if code == "no_federation" => Ok(None),
        Err(e) => Err(e),
    }
}

fn member(name: &str, key: &str) -> CliResult<Member> {
    let key: DomainPublicKey = key
        .trim()
        .parse()
        .map_err(|e| CliError::usage(format!("member {name}: key {key:?}: {e}")))?;
    Ok(Member {
        name: name.trim().to_owned(),
        key,
    })
}

#[derive(Deserialize)]
struct DomainFile {
    name: String,
    public_key: String,
}

pub(super) fn create(args: &CreateArgs, json: bool) -> CliResult<()> {
    let mut members = Vec::new();
    for spec in &args.members {
        let (name, key) = spec
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--member {spec:?}: write it NAME=PUBKEY")))?;
        members.push(member(name, key)?);
    }
    for path in &args.member_files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        let file: DomainFile = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!("{} is not a domain.json: {e}", path.display()))
        })?;
        members.push(member(&file.name, &file.public_key)?);
    }
    let quorum: Quorum = args
        .quorum
        .parse()
        .map_err(|e| CliError::usage(format!("--quorum: {e}")))?;
    let policies = args
        .policies
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|e| CliError::usage(format!("--policy {p}: {e}")))
        })
        .collect::<CliResult<BTreeSet<_>>>()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let genesis = Genesis::new(args.name.clone(), members, quorum, policies, Timestamp(now))
        .map_err(|e| CliError::usage(format!("invalid federation: {e}")))?;
    let text = serde_json::to_string_pretty(&genesis)
        .map_err(|e| CliError::failed(format!("cannot encode the genesis: {e}")))?;
    std::fs::write(&args.output, text + "\n")
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", args.output.display())))?;
    if json {
        return output::json(&json!({
            "federation": genesis.id().to_string(),
            "members": genesis.members.len(),
            "file": args.output,
        }));
    }
    crate::outln!(
        "federation {} ({} members, quorum {}) written to {}\nevery member: meshd run --genesis {}",
        genesis.id(),
        genesis.members.len(),
        genesis.quorum,
        args.output.display(),
        args.output.display()
    );
    Ok(())
}

pub(super) fn show(api: &Api, json: bool) -> CliResult<()> {
    let f: FederationView = api.get("/v1/federation")?;
    if json {
        return output::json(&f);
    }
    let members: Vec<String> = f
        .members
        .iter()
        .map(|m| format!("{} ({})", m.name, m.domain_id))
        .collect();
    let evidence = if f.equivocations.is_empty() {
        "none".to_owned()
    } else {
        f.equivocations
            .iter()
            .map(|e| {
                format!(
                    "{} signed two {}s in slot {} round {}: {} and {}",
                    e.member, e.kind, e.slot, e.round, e.proposals[0], e.proposals[1]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    crate::out!(
        "{}",
        output::block(&[
            ("federation", format!("{} ({})", f.name, f.id)),
            ("version", f.version.to_string()),
            (
                "quorum",
                format!(
                    "more than {} of the members",
                    f.quorum.trim_start_matches('>')
                )
            ),
            (
                "members",
                format!("{}: {}", f.members.len(), members.join(", "))
            ),
            (
                "this node",
                if f.member {
                    "member".into()
                } else {
                    "observer (not a member)".into()
                }
            ),
            (
                "policies",
                if f.policies.is_empty() {
                    "none".into()
                } else {
                    f.policies.join(", ")
                },
            ),
            ("equivocation", evidence),
            ("slot", slot_line(&f.slot)),
        ])
    );
    Ok(())
}

pub(super) fn propose(api: &Api, args: &ProposeArgs, json: bool) -> CliResult<()> {
    let change = match &args.change {
        ProposeChange::Policy {
            action: Action::Add,
            rule,
        } => json!({ "add_policy": rule }),
        ProposeChange::Policy {
            action: Action::Remove,
            rule,
        } => json!({ "remove_policy": rule }),
        ProposeChange::Member {
            action: Action::Add,
            domain,
            key,
        } => {
            let key = key.as_ref().ok_or_else(|| {
                CliError::usage(
                    "adding a member needs its public key: mesh propose member add NAME PUBKEY",
                )
            })?;
            json!({ "add_member": { "name": domain, "key": key } })
        }
        ProposeChange::Member {
            action: Action::Remove,
            domain,
            ..
        } => json!({ "remove_member": domain }),
        ProposeChange::Quorum { quorum } => json!({ "set_quorum": quorum }),
    };
    let body = json!({
        "change": change,
        "reason": args.reason,
        "expires_in_secs": crate::duration::secs("--expires-in", &args.expires_in)?,
    });
    let p: ProposalView = api.post("/v1/proposals", &body)?;
    if json {
        return output::json(&p);
    }
    crate::outln!(
        "proposed {} (slot {}): {}\nvote with: mesh vote {} yes",
        p.id,
        p.base_version,
        p.change,
        &p.id[..12]
    );
    Ok(())
}

/// One line on the current slot's consensus.
fn slot_line(s: &mesh_node::governance::SlotView) -> String {
    let lock = match (&s.locked, s.locked_round) {
        (Some(p), Some(r)) => format!(", locked on {} since round {r}", short(p)),
        _ => String::new(),
    };
    format!(
        "{} ({}), round {} step {}{}",
        s.slot, s.state, s.round, s.step, lock
    )
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub(super) fn proposals(api: &Api, open_only: bool, json: bool) -> CliResult<()> {
    let mut list: Vec<ProposalView> = api.get("/v1/proposals")?;
    if open_only {
        list.retain(|p| p.status == "open" || p.status == "approved");
    }
    let fed: FederationView = api.get("/v1/federation")?;
    if json {
        return output::json(&json!({ "slot": fed.slot, "proposals": list }));
    }
    let s = &fed.slot;
    crate::outln!("slot {}", slot_line(s));
    if s.state != "waiting" {
        let rows: Vec<Vec<String>> = s
            .members
            .iter()
            .map(|m| {
                let show = |v: &Option<String>| {
                    v.as_deref().map_or("-".to_owned(), |v| short(v).to_owned())
                };
                vec![m.name.clone(), show(&m.prevote), show(&m.precommit)]
            })
            .collect();
        crate::out!(
            "{}",
            output::table(
                &["MEMBER", &format!("PREVOTE r{}", s.round), "PRECOMMIT"],
                &rows
            )
        );
    }
    if list.is_empty() {
        crate::outln!("no proposals in this slot; propose one with `mesh propose`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                short(&p.id).to_owned(),
                p.base_version.to_string(),
                p.status.to_uppercase(),
                format!(
                    "{}/{} yes, {} no ({} needed)",
                    p.yes, p.members, p.no, p.needed
                ),
                p.my_vote
                    .map_or("-".into(), |v| if v { "yes".into() } else { "no".into() }),
                if p.expired {
                    "EXPIRED".to_owned()
                } else {
                    crate::standards::rfc3339(p.expires_at_ms)
                },
                p.change.clone(),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        output::table(
            &[
                "PROPOSAL", "SLOT", "STATUS", "TALLY", "MINE", "EXPIRES", "CHANGE"
            ],
            &rows
        )
    );
    for p in &list {
        crate::outln!("{}: {}", short(&p.id), p.status_reason);
        for v in &p.votes {
            let reason = if v.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", v.reason)
            };
            crate::outln!(
                "  {} {}{}",
                v.name,
                if v.approve { "approved" } else { "rejected" },
                reason
            );
        }
    }
    Ok(())
}

pub(super) fn vote(
    api: &Api,
    proposal: &str,
    choice: Choice,
    reason: Option<String>,
    json: bool,
) -> CliResult<()> {
    if choice == Choice::No && reason.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::usage(
            "a rejection needs a reason: mesh vote ID no --reason \"...\"",
        ));
    }
    let open: Vec<ProposalView> = api.get("/v1/proposals")?;
    let matches: Vec<&ProposalView> = open.iter().filter(|p| p.id.starts_with(proposal)).collect();
    let id = match matches.as_slice() {
        [one] => one.id.clone(),
        [] => {
            return Err(CliError::failed(format!(
                "no open proposal {proposal}; list them with `mesh proposals`"
            )));
        }
        _ => {
            return Err(CliError::usage(format!(
                "{proposal} matches {} proposals; give more of the id",
                matches.len()
            )));
        }
    };
    let receipt: Value = api.post(
        &format!("/v1/proposals/{id}/votes"),
        &json!({ "approve": choice == Choice::Yes, "reason": reason.unwrap_or_default() }),
    )?;
    if json {
        return output::json(&receipt);
    }
    let ratified = receipt["ratified"].as_bool().unwrap_or(false);
    let status = receipt["status"].as_str().unwrap_or("open");
    crate::outln!(
        "voted {} on {}; {}",
        if choice == Choice::Yes { "yes" } else { "no" },
        short(&id),
        if ratified {
            format!(
                "decided: the federation is now at version {}",
                receipt["version"]
            )
        } else if status == "approved" {
            "a quorum approved it; the members' nodes are deciding the slot".to_owned()
        } else {
            format!("the proposal is {status}")
        }
    );
    Ok(())
}
