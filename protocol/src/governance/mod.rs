//! Federated governance: how member domains decide together, with no server.
//!
//! - [`Genesis`]: founding members and quorum rule; its hash is the
//!   [`FederationId`] that namespaces everything else.
//! - [`Proposal`]: one change (policy, member, quorum) built on a numbered
//!   state version, the proposal's *slot*.
//! - [`Vote`]: a member's signed approval or rejection of a proposal, with
//!   a reason, made by a person. Approvals bind nobody: a quorum of them
//!   makes a proposal *eligible* for its slot.
//! - [`Ballots`]: the grow-only pool of proposals and votes a node has seen;
//!   says which proposals are approved, rejected or expired.
//! - [`Consensus`]: one slot's Tendermint rounds (Buchman, Kwon, Milosevic,
//!   2018), run by the members' nodes, which decide which eligible proposal
//!   takes the slot; a failed or split vote never holds a slot, because
//!   approvals do not lock anyone, and the rounds' locks release by the
//!   paper's rules. [`tendermint`] maps each of the paper's rules to code.
//! - [`Certificate`]: a proposal, a quorum of approvals and a quorum of one
//!   round's precommits; verifiable offline in time linear in its votes.
//! - [`Federation`]: the state machine that verifies and applies
//!   certificates from genesis, one per version.
//!
//! Safety: with a quorum above two thirds, two quorums of the same member
//! set share more than a third of the members, so while fewer than a third
//! are faulty, two different certificates for one slot cannot both form
//! (Tendermint's agreement), whatever the network does.
//!
//! ```text
//!  people:   propose X ──► approve / reject (mesh vote, with reasons)
//!                              │ quorum of approvals: X eligible
//!  nodes:    round r: PROPOSAL(X) ─► PREVOTE ─► PRECOMMIT ─► quorum: decide
//!                          │ no quorum in time ▲
//!                          └─ timeout ─► round r+1 (next proposer) ─┘
//!  chain:    certificate = X + approvals + precommits ─► version + 1
//! ```

mod ballots;
mod certificate;
mod federation;
mod genesis;
mod proposal;
mod round;
mod round_log;
pub mod tendermint;

pub use ballots::{BallotError, Ballots, MAX_PROPOSALS, ProposalStatus, Tally, VoteOutcome};
pub use certificate::{Certificate, CertificateError};
pub use federation::{ChainError, Federation, FederationState};
pub use genesis::{FederationId, Genesis, GenesisError, MAX_MEMBERS, Member, Quorum};
pub use proposal::{Change, MAX_VOTE_REASON, Proposal, ProposalError, ProposalId, Vote, VoteError};
pub use round::{Equivocation, RoundMessage, RoundProposal, RoundVote, VoteKind};
pub use round_log::MAX_ROUNDS_KEPT;
pub use tendermint::{Consensus, Durable, Output, RoundError, RoundTimes, Step, Timeout, Values};
