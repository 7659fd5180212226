//! The governance page: the federation's members, quorum, policies in
//! force, the chain of decisions, open proposals with their tallies and
//! this member's vote, vote buttons (approve, or reject with a reason),
//! a form to propose a policy change, and equivocation evidence.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use maud::{Markup, html};
use mesh_protocol::governance::{Change, MAX_VOTE_REASON, ProposalId};
use serde::Deserialize;

use super::layout::{self, Nav, Tone};
use super::session::Session;
use super::{Page, no_federation};
use crate::api::{ApiError, ApiState};
use crate::governance::{FederationView, ProposalView};

/// How long a proposal from the page stays open.
const PROPOSAL_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

/// `GET /governance`.
pub(super) async fn page(
    State(s): State<ApiState>,
    Extension(session): Extension<Session>,
) -> Page {
    let federation = match s.handle.federation().await {
        Ok(f) => f,
        Err(e) if no_federation(&e) => {
            let body = html! {
                h1 { "Governance" }
                p id="no-federation" { "This node belongs to no federation, so no policies apply to its products. A federation is founded with "
                    code { "mesh federation init" } " and joined with " code { "meshd init --genesis FILE" } "." }
            };
            return Ok(layout::page("Governance", Nav::Governance, &session, &body));
        }
        Err(e) => return Err(e.into()),
    };
    let proposals = s.handle.proposals().await?;
    let now = layout::now_ms();
    let body = html! {
        h1 { "Governance: " (federation.name) }
        p.sub { "Federation " code.key { (federation.id) } " · version " span id="fed-version" { (federation.version) }
            " · quorum " (federation.quorum)
            @if federation.member { " · " (layout::state("you are a member", Tone::Good)) }
            @else { " · " (layout::state("observer", Tone::Neutral)) } }
        div.grid {
            section aria-labelledby="members-h" {
                h2 id="members-h" { "Members" }
                ul id="members" { @for m in &federation.members { li { strong { (m.name) } " " code.key title=(m.key) { (layout::short_domain(&m.domain_id)) } } } }
            }
            section aria-labelledby="policies-h" {
                h2 id="policies-h" { "Policies in force" }
                @if federation.policies.is_empty() { p.muted { "None." } }
                ul id="policies" { @for p in &federation.policies { li { code { (p) } } } }
            }
        }
        section aria-labelledby="proposals-h" {
            h2 id="proposals-h" { "Open proposals" }
            @if proposals.is_empty() { p.muted id="no-proposals" { "No open proposals." } }
            @for p in &proposals { (proposal(p, &federation, &session, now)) }
            @if federation.member { (propose_form(&session)) }
        }
        section aria-labelledby="decisions-h" {
            h2 id="decisions-h" { "Decisions (the certificate chain)" }
            (decisions(&federation))
        }
        section aria-labelledby="evidence-h" {
            h2 id="evidence-h" { "Equivocation evidence" }
            @if federation.equivocations.is_empty() { p.muted { "None: no member signed two messages for one step." } }
            ul { @for e in &federation.equivocations {
                li { strong { (e.member) } " signed two " (e.kind) " messages in slot " (e.slot) ", round " (e.round) ": "
                    code { (e.proposals[0]) } " and " code { (e.proposals[1]) } } } }
        }
    };
    Ok(layout::page("Governance", Nav::Governance, &session, &body))
}

fn proposal(p: &ProposalView, f: &FederationView, session: &Session, now: u64) -> Markup {
    let action = format!("/governance/proposals/{}/vote", p.id);
    html! {
        article.proposal id=(format!("proposal-{}", p.id)) data-proposal=(p.id) {
            h3 { (p.change) }
            p { "Proposed by " strong { (p.proposer) } " on version " (p.base_version) ": " (p.reason) }
            p.tally {
                span.yes { (p.yes) " approve" } " · " span.no { (p.no) " reject" } " · "
                (p.needed) " of " (p.members) " needed · "
                span.status { (p.status) } @if !p.status_reason.is_empty() { " (" (p.status_reason) ")" }
                " · closes " (layout::date(p.expires_at_ms))
                @if p.expires_at_ms <= now || p.expired { " " (layout::state("expired", Tone::Bad)) }
            }
            @if !p.votes.is_empty() {
                ul.votes { @for v in &p.votes { li {
                    strong { (v.name) } ": " @if v.approve { "approve" } @else { "reject" }
                    @if !v.reason.is_empty() { " (" (v.reason) ")" } } } }
            }
            @match p.my_vote {
                Some(true) => { p.myvote { "Your domain approved." } }
                Some(false) => { p.myvote { "Your domain rejected." } }
                None if f.member && !p.expired => {
                    div.votebox {
                        form method="post" action=(action) {
                            (layout::csrf(session))
                            input type="hidden" name="approve" value="true";
                            label for=(format!("approve-reason-{}", p.id)) { "Reason (optional)" }
                            input id=(format!("approve-reason-{}", p.id)) name="reason" type="text" maxlength=(MAX_VOTE_REASON);
                            button.approve type="submit" { "Approve" }
                        }
                        form method="post" action=(action) {
                            (layout::csrf(session))
                            input type="hidden" name="approve" value="false";
                            label for=(format!("reject-reason-{}", p.id)) { "Reason for rejecting" }
                            input id=(format!("reject-reason-{}", p.id)) name="reason" type="text" required maxlength=(MAX_VOTE_REASON);
                            button.reject type="submit" { "Reject" }
                        }
                    }
                }
                None => {}
            }
        }
    }
}

fn propose_form(session: &Session) -> Markup {
    html! {
        details.propose {
            summary { "Propose a change" }
            form method="post" action="/governance/proposals" {
                (layout::csrf(session))
                label for="change-kind" { "Change" }
                select id="change-kind" name="kind" {
                    option value="add_policy" { "add a policy" }
                    option value="remove_policy" { "remove a policy" }
                    option value="set_quorum" { "set the quorum" }
                }
                label for="change-value" { "Rule or quorum (e.g. " code { "require-owner-email" } " or " code { "2/3" } ")" }
                input id="change-value" name="value" type="text" required;
                label for="change-reason" { "Why" }
                input id="change-reason" name="reason" type="text" required maxlength="1000";
                button type="submit" { "Propose" }
            }
        }
    }
}

fn decisions(f: &FederationView) -> Markup {
    html! {
        @if f.decisions.is_empty() { p.muted { "No decisions yet: the federation is at its genesis." } }
        @else {
            div.scroll {
                table id="decisions" {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Change" } th scope="col" { "Approvals" }
                        th scope="col" { "Round" } th scope="col" { "Precommits" } th scope="col" { "Proposal" } } }
                    tbody { @for d in f.decisions.iter().rev() { tr {
                        td.num { (d.version) } td { (d.change) } td.num { (d.votes) }
                        td.num { (d.round) } td.num { (d.precommits) } td { code.key { (layout::short_domain(&d.proposal)) } }
                    } } }
                }
            }
        }
    }
}

/// A vote from the page.
#[derive(Deserialize)]
pub(super) struct VoteForm {
    approve: String,
    #[serde(default)]
    reason: String,
}

/// `POST /governance/proposals/{id}/vote`.
pub(super) async fn vote(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Form(form): Form<VoteForm>,
) -> Page {
    let id: ProposalId = id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("proposal id: {e}")))?;
    let approve = form.approve == "true";
    let reason = form.reason.trim().to_owned();
    if !approve && reason.is_empty() {
        return Err(ApiError::bad_request("A rejection needs a reason.").into());
    }
    if reason.len() > MAX_VOTE_REASON {
        return Err(ApiError::bad_request(format!(
            "The reason is longer than {MAX_VOTE_REASON} bytes."
        ))
        .into());
    }
    s.handle.vote(id, approve, reason).await?;
    Ok(Redirect::to("/governance#proposals-h").into_response())
}

/// A proposal from the page.
#[derive(Deserialize)]
pub(super) struct ProposeForm {
    kind: String,
    value: String,
    reason: String,
}

/// `POST /governance/proposals`.
pub(super) async fn propose(State(s): State<ApiState>, Form(form): Form<ProposeForm>) -> Page {
    let bad = |e: String| ApiError::bad_request(e);
    let value = form.value.trim();
    let change = match form.kind.as_str() {
        "add_policy" => Change::AddPolicy(value.parse().map_err(|e| bad(format!("{e}")))?),
        "remove_policy" => Change::RemovePolicy(value.parse().map_err(|e| bad(format!("{e}")))?),
        "set_quorum" => Change::SetQuorum(value.parse().map_err(|e| bad(format!("{e}")))?),
        other => return Err(bad(format!("unknown change {other:?}")).into()),
    };
    s.handle
        .propose(change, form.reason, PROPOSAL_TTL_MS)
        .await?;
    Ok(Redirect::to("/governance#proposals-h").into_response())
}
