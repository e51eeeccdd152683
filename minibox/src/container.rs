//! `minibox run` from beginning to end. Each chapter of the workshop adds one step to [`run`].

use crate::process::{self, Command};
use crate::step;
use anyhow::Result;

/// Everything `minibox run` was asked to do, checked.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `KEY=VALUE` settings from `--env`.
    pub env: Vec<String>,
}

// ANCHOR: run
/// Run the container described by `config`, and return the exit code minibox should end with.
pub fn run(config: &Config) -> Result<i32> {
    let command = Command { argv: config.command.clone(), env: environment(config) };

    // Signals wait in line from here on, so none is lost before we start waiting for them.
    process::block_supervised_signals()?;
    let child = process::spawn(&command, || Ok(()))?;
    let pid = child.started()?;
    step!("started {:?} as pid {pid}", command.argv);

    let status = process::wait_for_exit(pid)?;
    step!("the command ended: {status:?}");
    Ok(process::exit_code(status))
}
// ANCHOR_END: run

/// The command's environment: minibox's own, with `--env` settings on top.
fn environment(config: &Config) -> Vec<String> {
    let mut env: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| Some(format!("{}={}", k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    for kv in &config.env {
        set_env(&mut env, kv);
    }
    env
}

/// Set `KEY=VALUE` in `env`, replacing an earlier value of KEY.
pub fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|existing| existing.split('=').next() != Some(key));
    env.push(kv.to_string());
}
