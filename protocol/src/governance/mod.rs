//! Federated governance: how member domains decide together, with no server.
//!
//! - [`Genesis`]: founding members and quorum rule; its hash is the
//!   [`FederationId`] that namespaces everything else.
//! - [`Proposal`]: one change (policy, member, quorum) built on a numbered
//!   state version, the proposal's *slot*.
//! - [`Vote`]: a member's signed yes or no on a proposal.
//! - [`Certificate`]: a proposal plus a quorum of valid yes votes from the
//!   members of its base version; verifiable offline.
//! - [`Federation`]: the state machine that verifies and applies
//!   certificates from genesis, one per version.
//! - [`Ballots`]: the grow-only pool of proposals and votes a node has seen,
//!   which assembles certificates and keeps equivocation evidence.
//! - [`Voter`]: the honest-member rule, never two yes votes in one slot.
//!
//! Safety: with a quorum above two thirds, two quorums of the same member
//! set share more than a third of the members, so while fewer than a third
//! are faulty, two conflicting certificates for one slot cannot both form.

mod ballots;
mod certificate;
mod federation;
mod genesis;
mod proposal;
mod voter;

pub use ballots::{BallotError, Ballots, Equivocation, MAX_PROPOSALS, Tally, VoteOutcome};
pub use certificate::{Certificate, CertificateError};
pub use federation::{ChainError, Federation, FederationState};
pub use genesis::{FederationId, Genesis, GenesisError, MAX_MEMBERS, Member, Quorum};
pub use proposal::{Change, Proposal, ProposalError, ProposalId, Vote, VoteError};
pub use voter::{VoteRefused, Voter};
