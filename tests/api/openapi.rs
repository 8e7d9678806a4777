//! `GET /api/v1/openapi.json` covers every API route the server registers
//! (read from the route table `routes` registers from), with its methods,
//! and is a valid OpenAPI 3.1 document.

use std::collections::BTreeSet;

use serde_json::Value;
use twofold::web::api_endpoints;

use crate::helpers::{client, spawn_app};

async fn fetch_document() -> (String, Value) {
    let app = spawn_app().await;
    let answer = app.get(&client(), "/api/v1/openapi.json").await;
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let text = answer.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(spec: &oas3::Spec) -> BTreeSet<(String, String)> {
    spec.operations()
        .map(|(path, method, _)| (method.as_str().to_owned(), path))
        .collect()
}

#[tokio::test]
async fn every_registered_route_is_documented_with_its_methods_and_nothing_else() {
    let (text, _) = fetch_document().await;
    let spec = oas3::from_json(&text).expect("an OpenAPI document");
    let registered: BTreeSet<(String, String)> = api_endpoints()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path))
        .collect();
    assert!(
        registered.contains(&("GET".to_owned(), "/api/v1/openapi.json".to_owned())),
        "the table lists the document itself"
    );
    let documented = documented_operations(&spec);
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "registered but not documented: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(extra.is_empty(), "documented but not registered: {extra:?}");
}

#[tokio::test]
async fn a_documented_route_is_served_and_an_undocumented_one_is_not() {
    // The table is what the server answers: a documented route is routed
    // (no 404 `not_found`), a made-up one under /api/v1 is not.
    let app = spawn_app().await;
    let client = client();
    for (method, path) in api_endpoints() {
        let concrete = path
            .replace("{id}", "no-such-device")
            .replace("{username}", "nobody");
        let answer = app.call(&client, method.as_str(), &concrete, None).await;
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        assert!(
            !(status == 404 && body.contains("no such API endpoint")) && status != 405,
            "{method} {path}: {status} {body}"
        );
    }
    let unknown = app.get(&client, "/api/v1/no-such-endpoint").await;
    assert_eq!(unknown.status(), 404);
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let (text, json) = fetch_document().await;
    let spec = oas3::from_json(&text).expect("an OpenAPI document");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1), "{version}");
    assert!(!spec.info.title.is_empty());

    let mut operation_ids = BTreeSet::new();
    for (path, method, operation) in spec.operations() {
        assert!(path.starts_with('/'), "{path}");
        assert!(
            path == "/healthz"
                || path == "/metrics"
                || path.starts_with("/api/v1/")
                // The OpenID Connect provider's endpoints live where the
                // standards (and the relying parties) look for them.
                || path == "/.well-known/openid-configuration"
                || path.starts_with("/oauth2/"),
            "paths are written in full: {path}"
        );
        let responses = operation.responses.as_ref().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        for code in responses.keys() {
            let status: u16 = code.parse().unwrap_or_else(|_| panic!("{code} in {path}"));
            assert!((100..600).contains(&status), "{code} in {path}");
        }
        let id = operation.operation_id.clone().expect("an operationId");
        assert!(operation_ids.insert(id.clone()), "operationId {id} twice");
        // Every {parameter} in the path is declared as a path parameter.
        let declared: BTreeSet<String> = operation
            .parameters
            .iter()
            .filter_map(|p| p.resolve(&spec).ok())
            .filter(|p| p.location == oas3::spec::ParameterIn::Path)
            .map(|p| p.name)
            .collect();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    declared.contains(name),
                    "{method} {path}: {name} undeclared"
                );
            }
        }
    }

    let mut targets = Vec::new();
    references(&json, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(json.pointer(pointer).is_some(), "{target} does not resolve");
    }
}
