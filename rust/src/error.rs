//! The one error type of the core. The Python binding maps it to
//! `learned_router.errors.InvalidInputError` in a single place (`py.rs`).

use std::fmt;

/// Everything a core kernel can reject. Each variant names the argument at
/// fault so the message can tell the caller where to look.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// An argument has the wrong shape, an empty dimension, or a value that is
    /// out of range (NaN, infinity, a negative cost, ...).
    InvalidArgument {
        argument: &'static str,
        message: String,
    },
}

impl CoreError {
    pub(crate) fn invalid(argument: &'static str, message: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            argument,
            message: message.into(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidArgument { argument, message } => {
                write!(f, "invalid argument `{argument}`: {message}")
            }
        }
    }
}

impl std::error::Error for CoreError {}
