//! `twofold group …` and `twofold policy …`, run as the real binary against
//! the database of a running server: the server sees each change, refusals
//! say why and change nothing, and every change is audited `by=cli`.

use std::process::Output;

use serde_json::{Value, json};

use crate::cli::twofold;
use crate::helpers::{TestApp, spawn_app};

fn run(app: &TestApp, args: &[&str]) -> Output {
    twofold(app.data.path(), args, "")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "it should fail");
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The cells of a listed table's row whose first cell is `name`.
fn row(list: &str, name: &str) -> Vec<String> {
    list.lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells[0] == name)
        .unwrap_or_else(|| panic!("{name} in\n{list}"))
}

async fn json_of(app: &TestApp, who: &reqwest::Client, path: &str) -> Value {
    app.get(who, path).await.json().await.unwrap()
}

const GRAFANA: &str = r#"{"Statement": {"Sid": "Read", "Effect": "Allow", "Action": "http:GET", "Resource": "https://grafana.example.com/*"}}"#;

#[tokio::test]
async fn the_operator_manages_groups_and_policies_that_the_running_server_sees() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    let file = app.data.path().join("grafana.json");
    std::fs::write(&file, GRAFANA).unwrap();
    let file = file.to_str().unwrap();

    succeeded(&run(&app, &["group", "add", "ops"]));
    succeeded(&run(&app, &["group", "add", "devs"]));
    succeeded(&run(&app, &["group", "add-member", "ops", "alice"]));
    succeeded(&run(&app, &["policy", "put", "grafana", file]));
    succeeded(&run(
        &app,
        &["policy", "attach", "grafana", "--group", "ops"],
    ));
    succeeded(&run(
        &app,
        &["policy", "attach", "grafana", "--user", "alice"],
    ));

    let groups = succeeded(&run(&app, &["group", "list"]));
    assert_eq!(row(&groups, "GROUP"), ["GROUP", "MEMBERS", "POLICIES"]);
    assert_eq!(row(&groups, "ops"), ["ops", "alice", "grafana"]);
    assert_eq!(row(&groups, "devs"), ["devs", "-", "-"]);
    let policies = succeeded(&run(&app, &["policy", "list"]));
    let grafana = row(&policies, "grafana");
    assert_eq!(grafana[0], "grafana");
    assert_eq!(grafana[2..], ["group", "ops,user", "alice"]);

    // The running server sees it all.
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"],
        json!([
            {"name": "devs", "members": [], "policies": []},
            {"name": "ops", "members": ["alice"], "policies": ["grafana"]},
        ])
    );
    let listed = json_of(&app, &root, "/api/v1/admin/policies").await;
    assert_eq!(
        listed["policies"][0]["document"],
        serde_json::from_str::<Value>(GRAFANA).unwrap()
    );

    succeeded(&run(
        &app,
        &["policy", "detach", "grafana", "--user", "alice"],
    ));
    succeeded(&run(&app, &["group", "remove-member", "ops", "alice"]));
    succeeded(&run(&app, &["group", "delete", "devs"]));
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"],
        json!([{"name": "ops", "members": [], "policies": ["grafana"]}])
    );
    succeeded(&run(&app, &["policy", "delete", "grafana"]));
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await["groups"],
        json!([{"name": "ops", "members": [], "policies": []}])
    );

    // Every change audited as the host's operator.
    let audit = json_of(&app, &root, "/api/v1/admin/audit?limit=100").await;
    let details: Vec<(String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"].as_str().unwrap().starts_with("by=cli"))
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .rev()
        .collect();
    let events: Vec<&str> = details.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "group_created",
            "group_created",
            "group_member_added",
            "policy_put",
            "policy_attached",
            "policy_attached",
            "policy_detached",
            "group_member_removed",
            "group_deleted",
            "policy_deleted",
        ]
    );
    assert_eq!(details[4].1, "by=cli; policy=grafana; group=ops");
}

#[tokio::test]
async fn the_commands_refuse_bad_input_saying_why_and_change_nothing() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let bad = app.data.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Maybe"}]}"#,
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let big = app.data.path().join("big.json");
    std::fs::write(&big, format!("{{\"Statement\": []{}}}", " ".repeat(20_000))).unwrap();
    let big = big.to_str().unwrap();

    let message = failed(&run(&app, &["policy", "put", "p", bad]));
    assert!(message.contains("Statement[1].Effect"), "{message}");
    let message = failed(&run(&app, &["policy", "put", "p", big]));
    assert!(message.contains("larger than 10240 bytes"), "{message}");
    let message = failed(&run(&app, &["policy", "put", "p", "/no/such/file.json"]));
    assert!(message.contains("/no/such/file.json"), "{message}");
    let message = failed(&run(&app, &["group", "add", "no spaces"]));
    assert!(message.contains("group name"), "{message}");
    let message = failed(&run(&app, &["group", "delete", "nope"]));
    assert!(message.contains("group not found"), "{message}");
    let message = failed(&run(&app, &["group", "add-member", "nope", "root"]));
    assert!(message.contains("group not found"), "{message}");
    succeeded(&run(&app, &["group", "add", "ops"]));
    let message = failed(&run(&app, &["group", "add-member", "ops", "nobody"]));
    assert!(message.contains("user not found"), "{message}");
    let message = failed(&run(&app, &["policy", "attach", "nope", "--group", "ops"]));
    assert!(message.contains("policy not found"), "{message}");
    // Exactly one target.
    failed(&run(
        &app,
        &["policy", "attach", "p", "--group", "ops", "--user", "root"],
    ));
    failed(&run(&app, &["policy", "attach", "p"]));

    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/policies").await,
        json!({"policies": []})
    );
    assert_eq!(
        json_of(&app, &root, "/api/v1/admin/groups").await,
        json!({"groups": [{"name": "ops", "members": [], "policies": []}]})
    );
}
