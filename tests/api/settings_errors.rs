//! Wrong settings stop every command at once with one line that names the
//! setting as the operator wrote it: the key and file, or the variable.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `twofold ARGS` in `dir` with only `env` of the settings' variables.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .args(args)
        .current_dir(dir)
        .env("TWOFOLD_STORAGE_PATH", dir.join("data"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOFOLD_") && key != "TWOFOLD_STORAGE_PATH" {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied()).output().unwrap()
}

/// The one line a refused command prints, after checking it was refused.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "refused");
    let text = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(output.stdout.is_empty());
    text.trim_end().to_owned()
}

#[test]
fn a_misspelt_key_in_the_file_is_named_as_written_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.toml");
    std::fs::write(&file, "[server]\norign = \"https://auth.example.com\"\n").unwrap();
    let file_arg = file.display().to_string();
    for args in [
        vec!["--config", &file_arg, "serve"],
        vec!["--config", &file_arg, "user", "list"],
    ] {
        let line = refusal(&run(dir.path(), &args, &[]));
        assert!(
            line.starts_with(&format!(
                "twofold: server.orign in {file_arg}: no such setting"
            )),
            "{line}"
        );
        assert!(line.contains("origin"), "the known keys are listed: {line}");
        assert!(!line.contains("default.") && !line.contains('`'), "{line}");
    }
}

#[test]
fn a_wrong_type_in_the_file_names_the_key_and_what_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.toml");
    std::fs::write(&file, "[server]\nworkers = \"many\"\n").unwrap();
    let file_arg = file.display().to_string();
    let line = refusal(&run(
        dir.path(),
        &["--config", &file_arg, "user", "list"],
        &[],
    ));
    assert!(
        line.starts_with(&format!("twofold: server.workers in {file_arg}: expected")),
        "{line}"
    );
    assert!(line.contains("\"many\""), "{line}");
}

#[test]
fn a_misspelt_variable_is_named_as_set_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let line = refusal(&run(
        dir.path(),
        &["user", "list"],
        &[("TWOFOLD_SERVER_ORIGN", "https://auth.example.com")],
    ));
    assert!(
        line.starts_with("twofold: TWOFOLD_SERVER_ORIGN: no such setting"),
        "{line}"
    );
    // A variable outside any section of the settings (a test's, say).
    let line = refusal(&run(
        dir.path(),
        &["user", "list"],
        &[("TWOFOLD_E2E_CHROMIUM", "/usr/bin/chromium")],
    ));
    assert!(
        line.starts_with("twofold: TWOFOLD_E2E_CHROMIUM: no such setting"),
        "{line}"
    );
}

#[test]
fn a_log_level_that_is_no_level_is_refused_rather_than_silencing_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let line = refusal(&run(
        dir.path(),
        &["serve"],
        &[
            ("TWOFOLD_LOG_LEVEL", "verbose"),
            ("TWOFOLD_SERVER_LISTEN", "127.0.0.1:0"),
        ],
    ));
    assert!(
        line.starts_with("twofold: log.level must be one of off, error, warn, info, debug, trace")
            && line.ends_with("got \"verbose\""),
        "{line}"
    );
    let line = refusal(&run(
        dir.path(),
        &["serve"],
        &[("TWOFOLD_LOG_FORMAT", "pretty")],
    ));
    assert!(line.starts_with("twofold: log.format must be"), "{line}");
}
