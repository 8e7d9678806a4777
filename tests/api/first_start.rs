//! What `twofold serve` tells its operator at start, read from its standard
//! error written to a file as a service manager would: the bound address, how
//! to create the first administrator, a warning when people elsewhere can reach
//! it under a name its origin doesn't match, and no colour codes in the file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::PASSWORD;
use crate::restart::free_port;

/// The line `serve` writes last at start.
const LISTENING: &str = "twofold is listening on ";

struct LoggedServer {
    child: Child,
    log: PathBuf,
}

impl LoggedServer {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `twofold serve` started with `args` and `env` (nothing else from the
/// test's own environment that twofold reads), once it has said it listens.
async fn serve_logged(dir: &Path, args: &[&str], env: &[(&str, String)]) -> LoggedServer {
    let log = dir.join(format!("serve-{}.log", free_port()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .args(args)
        .arg("serve")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOFOLD_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let server = LoggedServer {
        child: command.spawn().unwrap(),
        log,
    };
    for _ in 0..200 {
        if server.log().contains(LISTENING) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start:\n{}", server.log());
}

fn config_file(dir: &Path, port: u16) -> PathBuf {
    let file = dir.join("twofold.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\norigin = \"http://localhost:{port}\"\n\
             [storage]\npath = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    file
}

#[tokio::test]
async fn the_first_start_names_the_bound_address_and_the_exact_command_for_the_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config_file(dir.path(), port);
    let config_arg = config.display().to_string();
    let server = serve_logged(dir.path(), &["--config", &config_arg], &[]).await;
    let log = server.log();

    assert!(
        log.contains(&format!(
            "{LISTENING}127.0.0.1:{port}; open http://localhost:{port}"
        )),
        "{log}"
    );
    let hint = log
        .lines()
        .find(|line| line.contains("no users yet"))
        .unwrap_or_else(|| panic!("a hint about the first admin in\n{log}"));
    let command = hint
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a command in backticks: {hint}"));
    assert!(
        command.contains(&format!("--config {config_arg}"))
            && command.ends_with("user add root --admin --password-stdin"),
        "{command}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log file: {log:?}"
    );

    // The command works as written, against the running server's database.
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut add = Command::new(words[0])
        .args(&words[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    drop(server);

    let again = serve_logged(dir.path(), &["--config", &config_arg], &[]).await;
    assert!(!again.log().contains("no users yet"), "{}", again.log());
}

#[tokio::test]
async fn listening_beyond_loopback_with_a_localhost_origin_is_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data").display().to_string();
    let everywhere = serve_logged(
        dir.path(),
        &[],
        &[
            ("TWOFOLD_STORAGE_PATH", data.clone()),
            ("TWOFOLD_SERVER_LISTEN", format!("0.0.0.0:{port}")),
        ],
    )
    .await;
    let log = everywhere.log();
    let warning = log
        .lines()
        .find(|line| line.contains("server.listen is"))
        .unwrap_or_else(|| panic!("a warning in\n{log}"));
    assert!(
        warning.contains(" WARN ")
            && warning.contains(&format!("server.listen is 0.0.0.0:{port}"))
            && warning.contains("server.origin is http://localhost:8080")
            && warning.contains("TWOFOLD_SERVER_ORIGIN"),
        "{warning}"
    );
    drop(everywhere);

    // Bound to loopback only, or with an origin others can use: no warning.
    for env in [
        vec![("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))],
        vec![
            ("TWOFOLD_SERVER_LISTEN", format!("0.0.0.0:{port}")),
            ("TWOFOLD_SERVER_ORIGIN", "https://auth.example.com".into()),
        ],
    ] {
        let mut env = env;
        env.push(("TWOFOLD_STORAGE_PATH", data.clone()));
        let quiet = serve_logged(dir.path(), &[], &env).await;
        assert!(
            !quiet.log().contains("server.listen is"),
            "{env:?}: {}",
            quiet.log()
        );
    }
}

#[test]
fn serve_help_shows_the_defaults_and_the_example_config() {
    let help = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let defaults = twofold::config::Settings::default();
    for shown in [
        defaults.server.listen.as_str(),
        defaults.server.origin.as_str(),
        &defaults.storage.path.display().to_string(),
        "config/twofold.example.toml",
        "--config FILE",
    ] {
        assert!(help.contains(shown), "{shown} in\n{help}");
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/twofold.example.toml");
    assert!(example.is_file());
}
