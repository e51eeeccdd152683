//! The exit codes minibox uses, the same as Docker's, so scripts can tell who failed.

/// minibox itself failed: bad arguments, or the container could not be set up.
pub const RUNTIME_FAILED: i32 = 125;
/// The command was found but could not be executed (no execute permission, not a program).
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;
/// A command killed by signal N exits 128 + N, as in the shell.
pub const SIGNAL_BASE: i32 = 128;

/// A failure that ends minibox with a particular exit code. Any other error exits 125.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedError {
    pub code: i32,
    pub message: String,
}

impl CodedError {
    pub fn new(code: i32, message: String) -> CodedError {
        CodedError { code, message }
    }
}

impl std::fmt::Display for CodedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodedError {}

/// The exit code for an error: its own when it carries one, otherwise 125.
pub fn code_of(error: &anyhow::Error) -> i32 {
    error.downcast_ref::<CodedError>().map_or(RUNTIME_FAILED, |e| e.code)
}
