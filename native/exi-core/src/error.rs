//! The codec's one error type: what was wrong, where in the element path, at which bit.

use std::fmt;
use std::ops::Deref;

/// A codec error. Boxed so that every `Result` of the hot paths stays two words wide (the error path is cold);
/// its fields read through `Deref` (`err.message`, `err.path`, `err.bit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorData>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorData {
    pub message: String,
    /// Element names from the root down to the element being processed.
    pub path: Vec<&'static str>,
    /// Bit offset in the stream (decoding) or in the output (encoding).
    pub bit: usize,
}

impl Deref for Error {
    type Target = ErrorData;

    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl Error {
    #[cold]
    #[inline(never)]
    pub fn new(message: impl Into<String>, bit: usize) -> Error {
        Error(Box::new(ErrorData { message: message.into(), path: Vec::new(), bit }))
    }

    /// Prefix the path with an enclosing element (called while unwinding).
    #[cold]
    #[inline(never)]
    pub fn within(mut self, name: &'static str) -> Error {
        self.0.path.insert(0, name);
        self
    }

    pub fn path_text(&self) -> String {
        if self.path.is_empty() {
            "/".to_string()
        } else {
            format!("/{}", self.path.join("/"))
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} (bit {}, byte {})", self.message, self.path_text(), self.bit, self.bit / 8)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
