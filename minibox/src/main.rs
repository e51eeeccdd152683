//! The `minibox` command: parse the command line, run, exit with the right code.
//! Everything else is in the library; start reading at `container::run`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = minibox::cli::main();
    ExitCode::from(u8::try_from(code).unwrap_or(minibox::exit::RUNTIME_FAILED as u8))
}
