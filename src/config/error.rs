//! Configuration errors. Their `Display` text is what Apache prints after
//! the file name and line number, so each one names the directive, the bad
//! token and what would have been accepted.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{directive}: invalid value '{token}', expected {expected}")]
    InvalidValue {
        directive: &'static str,
        token: String,
        expected: &'static str,
    },
    #[error("{directive}: unknown option '{option}', accepted options are: {accepted}")]
    UnknownOption {
        directive: &'static str,
        option: String,
        accepted: String,
    },
    #[error("{directive}: option '{option}' given more than once")]
    DuplicateOption {
        directive: &'static str,
        option: String,
    },
    #[error("{directive}: {message}")]
    Invalid {
        directive: &'static str,
        message: String,
    },
    #[error("{directive}: wrong number of arguments, expected {expected}")]
    ArgumentCount {
        directive: &'static str,
        expected: &'static str,
    },
    #[error("{directive} is not allowed {location}")]
    NotAllowedHere {
        directive: String,
        location: &'static str,
    },
}

impl ConfigError {
    pub fn invalid_value(directive: &'static str, token: &str, expected: &'static str) -> Self {
        ConfigError::InvalidValue {
            directive,
            token: token.to_string(),
            expected,
        }
    }

    pub fn invalid(directive: &'static str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            directive,
            message: message.into(),
        }
    }
}

pub type ConfigResult<T> = Result<T, ConfigError>;
