//! API errors: an HTTP status plus a JSON body with a stable machine code
//! and a message a person can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::access::{AccessBookError, AccessCommandError};
use crate::fetch::FetchError;
use crate::governance::GovernanceError;
use crate::node::NodeError;
use crate::store::StoreError;
use mesh_protocol::governance::BallotError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500 with code `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for a person.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let (status, code) = match &e {
            NodeError::Store(StoreError::NoSpace(_)) => {
                (StatusCode::INSUFFICIENT_STORAGE, "no_space")
            }
            NodeError::Store(StoreError::Io { .. } | StoreError::Degraded(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_degraded")
            }
            NodeError::File { path, source }
                if source.kind() == std::io::ErrorKind::StorageFull =>
            {
                return Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "no_space",
                    format!(
                        "no space left on device on the node while storing the product's bytes ({}); free space on the node's disk and publish again",
                        path.display()
                    ),
                );
            }
            NodeError::UnknownProduct(_) => (StatusCode::NOT_FOUND, "unknown_product"),
            NodeError::NotHeld(_) => (StatusCode::CONFLICT, "not_held"),
            NodeError::Descriptor(_) => (StatusCode::BAD_REQUEST, "invalid_descriptor"),
            NodeError::Catalog(_) => (StatusCode::CONFLICT, "catalog_refused"),
            NodeError::File { .. } => (StatusCode::BAD_REQUEST, "file"),
            NodeError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "stopped"),
            NodeError::Policy(_) => (StatusCode::UNPROCESSABLE_ENTITY, "policy_violation"),
            NodeError::Governance(g) => governance_code(g),
            NodeError::Access(a) => access_code(a),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, e.to_string())
    }
}

fn access_code(e: &AccessCommandError) -> (StatusCode, &'static str) {
    match e {
        AccessCommandError::NoGrantNeeded { .. } => (StatusCode::CONFLICT, "no_grant_needed"),
        AccessCommandError::OwnProduct(_) => (StatusCode::BAD_REQUEST, "own_product"),
        AccessCommandError::UnknownDomain(_) => (StatusCode::NOT_FOUND, "unknown_domain"),
        AccessCommandError::AmbiguousDomain { .. } => (StatusCode::CONFLICT, "ambiguous_domain"),
        AccessCommandError::NotGranted { .. } => (StatusCode::CONFLICT, "not_granted"),
        AccessCommandError::ExpiryPast(_) => (StatusCode::BAD_REQUEST, "expiry_past"),
        AccessCommandError::Book(AccessBookError::Record(_)) => {
            (StatusCode::BAD_REQUEST, "invalid_access")
        }
        AccessCommandError::Book(AccessBookError::Store(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

fn governance_code(e: &GovernanceError) -> (StatusCode, &'static str) {
    match e {
        GovernanceError::NoFederation => (StatusCode::CONFLICT, "no_federation"),
        GovernanceError::NotMember(_) => (StatusCode::FORBIDDEN, "not_member"),
        GovernanceError::UnknownProposal(_) => (StatusCode::NOT_FOUND, "unknown_proposal"),
        GovernanceError::AlreadyVoted { .. } => (StatusCode::CONFLICT, "vote_refused"),
        GovernanceError::Expired(_) => (StatusCode::CONFLICT, "expired"),
        GovernanceError::TooManyProposals(_) | GovernanceError::Ballot(BallotError::Full) => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_proposals")
        }
        GovernanceError::Ballot(_)
        | GovernanceError::Certificate(_)
        | GovernanceError::Round(_) => (StatusCode::BAD_REQUEST, "invalid_proposal"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl From<crate::preview::PreviewError> for ApiError {
    fn from(e: crate::preview::PreviewError) -> Self {
        use crate::preview::PreviewError;
        match e {
            PreviewError::Node(e) => e.into(),
            PreviewError::Fetch(e) => e.into(),
            PreviewError::Read(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable",
                e.to_string(),
            ),
            PreviewError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
        }
    }
}

impl From<FetchError> for ApiError {
    fn from(e: FetchError) -> Self {
        let (status, code) = match &e {
            FetchError::UnknownProduct(_) => (StatusCode::NOT_FOUND, "unknown_product"),
            FetchError::UnknownVersion { .. } => (StatusCode::NOT_FOUND, "unknown_version"),
            FetchError::Withdrawn(_) => (StatusCode::GONE, "withdrawn"),
            FetchError::Denied(_) => (StatusCode::FORBIDDEN, "denied"),
            FetchError::NoProviders(_) => (StatusCode::BAD_GATEWAY, "no_providers"),
            FetchError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            FetchError::Output(_) => (StatusCode::BAD_REQUEST, "bad_output"),
            FetchError::Local(_) => (StatusCode::INTERNAL_SERVER_ERROR, "local"),
            FetchError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "stopped"),
        };
        Self::new(status, code, e.to_string())
    }
}
