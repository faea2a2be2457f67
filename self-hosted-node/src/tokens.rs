//! Per-user bearer tokens (multi-tenant auth) and the TSIG keystore.
//!
//! Stub: no token store yet; multi-tenant mode accepts only the operator
//! token.

use std::process::ExitCode;

/// Settings of the token store and the TSIG keystore.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {}

/// Flags and `DMP_*` variables of this module (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct AuthArgs {}

impl AuthArgs {
    /// The parsed settings.
    pub fn into_config(self) -> AuthConfig {
        AuthConfig {}
    }
}

/// Runtime state of the token store (held by [`crate::AppState`]).
#[derive(Debug, Default)]
pub struct TokenState {}

impl TokenState {
    /// Opens what `config` names.
    pub fn new(_config: &crate::Config) -> Self {
        TokenState {}
    }
}

/// `dmp-node token …`: operator commands for per-user bearer tokens.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// List issued tokens (not yet implemented).
    List,
}

/// Runs a `dmp-node token` command.
pub fn run_token_command(_cmd: TokenCommand) -> ExitCode {
    eprintln!("dmp-node token: not implemented yet");
    ExitCode::FAILURE
}
