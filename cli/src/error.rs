//! The CLI's one error type and its exit codes.
//!
//! Every failure is one line on stderr that says what went wrong and what
//! to do. Exit codes: 0 success, 1 operational failure (the node is not
//! running, refused the token, does not know the product, a fetch failed),
//! 2 usage error (bad arguments, a missing input file, an invalid
//! descriptor file: nothing was attempted), 130 interrupted by Ctrl-C
//! (what was running was cancelled).

use std::process::ExitCode;

/// A failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user asked for something malformed; nothing was attempted.
    #[error("{0}")]
    Usage(String),
    /// The operation was attempted and failed.
    #[error("{0}")]
    Failed(String),
    /// The user interrupted the command (Ctrl-C); exit code 130.
    #[error("{0}")]
    Interrupted(String),
    /// The node answered with an API error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable machine code from the API.
        code: String,
        /// The node's message.
        message: String,
    },
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// An operational failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Interrupted(_) => ExitCode::from(130),
            Self::Failed(_) | Self::Api { .. } => ExitCode::from(1),
        }
    }

    /// The one line printed on stderr (newlines folded).
    pub fn line(&self) -> String {
        let text = self.to_string();
        let folded: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        format!("mesh: {}", folded.join("; "))
    }
}

/// Result of a CLI step.
pub type CliResult<T> = Result<T, CliError>;
