//! Policy documents: the JSON a person writes, read and checked into typed
//! statements whose patterns and condition values are already compiled.
//! Every refusal names where it is (`Statement[1].Effect: expected Allow or Deny`).
//!
//! Stricter than IAM where a slip would fail open: unknown elements, unknown
//! condition keys, an operator on a key of the wrong kind, an unknown
//! `twofold:` action, an `MfaMethod` that does not exist and a repeated JSON
//! key are all refused rather than silently never matching.

use ipnet::IpNet;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::context::{ConditionKey, KeyKind, parse_bool, parse_number};
use super::pattern::Pattern;

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024;
/// The most statements a document may hold.
pub const MAX_STATEMENTS: usize = 100;
/// The only policy language version; `Version` may be left out.
pub const VERSION: &str = "2026-12-01";

/// Services whose actions a policy may name.
const SERVICES: [&str; 4] = ["http", "twofold", "sts", "oidc"];
/// twofold's own actions (`twofold:<Action>`), `sts:` and `oidc:` ones.
const KNOWN_ACTIONS: [&str; 15] = [
    "twofold:ListUsers",
    "twofold:CreateUser",
    "twofold:DisableUser",
    "twofold:EnableUser",
    "twofold:ResetMfa",
    "twofold:GetCredentialReport",
    "twofold:ReadAudit",
    "twofold:ManageGroups",
    "twofold:ManagePolicies",
    "twofold:ManageAccessKeys",
    "twofold:ManageRoles",
    "twofold:ManageClients",
    "twofold:ManageSessions",
    "sts:AssumeRole",
    "oidc:Authorize",
];

/// A document that could not be accepted, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct InvalidPolicy {
    /// A path into the document: `document`, `Statement[0].Action[2]`, …
    pub at: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("expected a JSON object")]
    ExpectedObject,
    #[error("expected a string")]
    ExpectedString,
    #[error("expected a string or a list of strings")]
    ExpectedStringOrList,
    #[error("expected a statement object or a list of them")]
    ExpectedStatements,
    #[error("expected a string, number or boolean, or a list of them")]
    ExpectedConditionValue,
    #[error("is required")]
    Missing,
    #[error("must not be empty")]
    Empty,
    #[error("unknown element")]
    UnknownElement,
    #[error("expected {VERSION}")]
    UnsupportedVersion,
    #[error("at most {MAX_STATEMENTS} statements")]
    TooManyStatements,
    #[error("expected Allow or Deny")]
    InvalidEffect,
    #[error("give {0} or {1}, not both")]
    Both(&'static str, &'static str),
    #[error("give {0} or {1}")]
    Neither(&'static str, &'static str),
    #[error("expected letters and digits only")]
    InvalidSid,
    #[error("the same Sid as Statement[{0}]")]
    DuplicateSid(usize),
    #[error("expected \"*\" or service:action, with service http, twofold, sts or oidc")]
    InvalidAction,
    #[error("unknown action")]
    UnknownAction,
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error(
        "unknown condition operator; expected StringEquals, StringNotEquals, StringLike, Bool, \
         NumericLessThan, NumericLessThanEquals, NumericGreaterThan, IpAddress or NotIpAddress"
    )]
    UnknownOperator,
    #[error("unknown condition key")]
    UnknownKey,
    #[error("{operator} does not apply to {key}")]
    OperatorDoesNotApply {
        operator: &'static str,
        key: &'static str,
    },
    #[error("expected true or false")]
    ExpectedBool,
    #[error("expected a number")]
    ExpectedNumber,
    #[error("expected an IP address or a CIDR range")]
    ExpectedIp,
    #[error("expected one of {}", .0.join(", "))]
    NotOneOf(&'static [&'static str]),
}

/// A checked document: its statements, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `Action`, or `NotAction` when negated; patterns are lowercased, as
    /// actions compare case-insensitively.
    pub actions: Targets,
    /// `Resource`, or `NotResource` when negated; case-sensitive.
    pub resources: Targets,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

/// The patterns of `Action`/`Resource` (any one matching), or of
/// `NotAction`/`NotResource` (none matching).
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub negated: bool,
    pub patterns: Vec<Pattern>,
}

impl Targets {
    pub fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(text)) != self.negated
    }
}

/// One key under one operator: holds when any context value passes the test
/// against any listed value; a negated operator (`StringNotEquals`,
/// `NotIpAddress`) holds when the positive one does not — for
/// `twofold:groups` that means "in none of these groups".
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: ConditionKey,
    pub negated: bool,
    pub test: Test,
}

/// An operator with its values, parsed once.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    StringEquals(Vec<String>),
    StringLike(Vec<Pattern>),
    Bool(Vec<bool>),
    NumericLessThan(Vec<f64>),
    NumericLessThanEquals(Vec<f64>),
    NumericGreaterThan(Vec<f64>),
    IpAddress(Vec<IpNet>),
}

impl PolicyDocument {
    /// Reads and checks a document.
    pub fn parse(text: &str) -> Result<Self, InvalidPolicy> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(invalid("document", Problem::TooLarge));
        }
        let Strict(value) = serde_json::from_str(text)
            .map_err(|error| invalid("document", Problem::NotJson(error.to_string())))?;
        Self::from_value(&value)
    }

    /// Checks a document already read as JSON (its size is the caller's to bound).
    pub fn from_value(value: &Value) -> Result<Self, InvalidPolicy> {
        let object = value
            .as_object()
            .ok_or_else(|| invalid("document", Problem::ExpectedObject))?;
        refuse_unknown(object, "", &["Version", "Statement"])?;
        if let Some(version) = object.get("Version")
            && version.as_str() != Some(VERSION)
        {
            return Err(invalid("Version", Problem::UnsupportedVersion));
        }
        let statements = match object.get("Statement") {
            None => return Err(invalid("Statement", Problem::Missing)),
            Some(Value::Array(list)) => list.as_slice(),
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            Some(_) => return Err(invalid("Statement", Problem::ExpectedStatements)),
        };
        if statements.is_empty() {
            return Err(invalid("Statement", Problem::Empty));
        }
        if statements.len() > MAX_STATEMENTS {
            return Err(invalid("Statement", Problem::TooManyStatements));
        }
        let statements = statements
            .iter()
            .enumerate()
            .map(|(index, statement)| parse_statement(statement, &format!("Statement[{index}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for (index, statement) in statements.iter().enumerate() {
            let Some(sid) = &statement.sid else { continue };
            if let Some(first) = statements[..index]
                .iter()
                .position(|earlier| earlier.sid.as_ref() == Some(sid))
            {
                return Err(invalid(
                    format!("Statement[{index}].Sid"),
                    Problem::DuplicateSid(first),
                ));
            }
        }
        Ok(Self { statements })
    }
}

fn invalid(at: impl Into<String>, problem: Problem) -> InvalidPolicy {
    InvalidPolicy {
        at: at.into(),
        problem,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn refuse_unknown(
    object: &Map<String, Value>,
    path: &str,
    known: &[&str],
) -> Result<(), InvalidPolicy> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(invalid(join(path, unknown), Problem::UnknownElement)),
        None => Ok(()),
    }
}

fn parse_statement(value: &Value, path: &str) -> Result<Statement, InvalidPolicy> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid(path, Problem::ExpectedObject))?;
    refuse_unknown(
        object,
        path,
        &[
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ],
    )?;
    let sid = match object.get("Sid") {
        None => None,
        Some(Value::String(sid))
            if !sid.is_empty() && sid.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Some(sid.clone())
        }
        Some(Value::String(_)) => return Err(invalid(join(path, "Sid"), Problem::InvalidSid)),
        Some(_) => return Err(invalid(join(path, "Sid"), Problem::ExpectedString)),
    };
    let effect = match object.get("Effect") {
        None => return Err(invalid(join(path, "Effect"), Problem::Missing)),
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        Some(_) => return Err(invalid(join(path, "Effect"), Problem::InvalidEffect)),
    };
    let actions = parse_targets(object, path, "Action", "NotAction", |text, at| {
        check_action(text, at).map(|()| Pattern::new(&text.to_ascii_lowercase()))
    })?;
    let resources = parse_targets(object, path, "Resource", "NotResource", |text, at| {
        check_text(text, at).map(|()| Pattern::new(text))
    })?;
    let conditions = match object.get("Condition") {
        None => Vec::new(),
        Some(block) => parse_conditions(block, &join(path, "Condition"))?,
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        conditions,
    })
}

fn parse_targets(
    object: &Map<String, Value>,
    path: &str,
    plain: &'static str,
    negated: &'static str,
    compile: impl Fn(&str, &str) -> Result<Pattern, InvalidPolicy>,
) -> Result<Targets, InvalidPolicy> {
    let (name, value, is_negated) = match (object.get(plain), object.get(negated)) {
        (Some(_), Some(_)) => return Err(invalid(path, Problem::Both(plain, negated))),
        (None, None) => return Err(invalid(path, Problem::Neither(plain, negated))),
        (Some(value), None) => (plain, value, false),
        (None, Some(value)) => (negated, value, true),
    };
    let at = join(path, name);
    let patterns = match value {
        Value::String(text) => vec![compile(text, &at)?],
        Value::Array(items) if items.is_empty() => return Err(invalid(at, Problem::Empty)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let at = format!("{at}[{index}]");
                match item {
                    Value::String(text) => compile(text, &at),
                    _ => Err(invalid(at, Problem::ExpectedString)),
                }
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid(at, Problem::ExpectedStringOrList)),
    };
    Ok(Targets {
        negated: is_negated,
        patterns,
    })
}

fn check_text(text: &str, at: &str) -> Result<(), InvalidPolicy> {
    if text.is_empty() {
        Err(invalid(at, Problem::Empty))
    } else if text.chars().any(char::is_control) {
        Err(invalid(at, Problem::ControlCharacter))
    } else {
        Ok(())
    }
}

/// `*`, or `service:name` with a known service; a name without wildcards
/// must be a real action outside `http:` (whose names are methods).
fn check_action(text: &str, at: &str) -> Result<(), InvalidPolicy> {
    check_text(text, at)?;
    if text == "*" {
        return Ok(());
    }
    let Some((service, name)) = text.split_once(':') else {
        return Err(invalid(at, Problem::InvalidAction));
    };
    let name_chars_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_'));
    if !SERVICES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(service))
        || !name_chars_ok
    {
        return Err(invalid(at, Problem::InvalidAction));
    }
    let wild = name.contains(['*', '?']);
    if !wild
        && !service.eq_ignore_ascii_case("http")
        && !KNOWN_ACTIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(text))
    {
        return Err(invalid(at, Problem::UnknownAction));
    }
    Ok(())
}

const OPERATORS: [&str; 9] = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "Bool",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "IpAddress",
    "NotIpAddress",
];

fn parse_conditions(block: &Value, path: &str) -> Result<Vec<Condition>, InvalidPolicy> {
    let operators = block
        .as_object()
        .ok_or_else(|| invalid(path, Problem::ExpectedObject))?;
    let mut conditions = Vec::new();
    for (operator_name, keys) in operators {
        let at = join(path, operator_name);
        // Operator names are case-sensitive in IAM.
        let Some(&operator) = OPERATORS.iter().find(|known| *known == operator_name) else {
            return Err(invalid(at, Problem::UnknownOperator));
        };
        let keys = keys
            .as_object()
            .ok_or_else(|| invalid(&at, Problem::ExpectedObject))?;
        if keys.is_empty() {
            return Err(invalid(at, Problem::Empty));
        }
        for (key_name, values) in keys {
            let at = join(&at, key_name);
            let key = ConditionKey::from_name(key_name)
                .ok_or_else(|| invalid(&at, Problem::UnknownKey))?;
            conditions.push(parse_condition(operator, key, values, &at)?);
        }
    }
    Ok(conditions)
}

fn parse_condition(
    operator: &'static str,
    key: ConditionKey,
    values: &Value,
    at: &str,
) -> Result<Condition, InvalidPolicy> {
    let wanted_kind = match operator {
        "StringEquals" | "StringNotEquals" | "StringLike" => KeyKind::String,
        "Bool" => KeyKind::Bool,
        "IpAddress" | "NotIpAddress" => KeyKind::Ip,
        _ => KeyKind::Numeric,
    };
    if key.kind() != wanted_kind {
        return Err(invalid(
            at,
            Problem::OperatorDoesNotApply {
                operator,
                key: key.name(),
            },
        ));
    }
    let texts = condition_values(values, at)?;
    let each = |problem_of: &dyn Fn(&str) -> Option<Problem>| -> Result<(), InvalidPolicy> {
        for (text, item_at) in &texts {
            if let Some(problem) = problem_of(text) {
                return Err(invalid(item_at.clone(), problem));
            }
        }
        Ok(())
    };
    let numbers = || -> Result<Vec<f64>, InvalidPolicy> {
        each(&|text| {
            parse_number(text)
                .is_none()
                .then_some(Problem::ExpectedNumber)
        })?;
        Ok(texts
            .iter()
            .filter_map(|(text, _)| parse_number(text))
            .collect())
    };
    let test = match operator {
        "StringEquals" | "StringNotEquals" => {
            if let Some(allowed) = key.allowed_values() {
                each(&|text| (!allowed.contains(&text)).then_some(Problem::NotOneOf(allowed)))?;
            }
            Test::StringEquals(texts.iter().map(|(text, _)| text.clone()).collect())
        }
        "StringLike" => {
            Test::StringLike(texts.iter().map(|(text, _)| Pattern::new(text)).collect())
        }
        "Bool" => {
            each(&|text| parse_bool(text).is_none().then_some(Problem::ExpectedBool))?;
            Test::Bool(
                texts
                    .iter()
                    .filter_map(|(text, _)| parse_bool(text))
                    .collect(),
            )
        }
        "NumericLessThan" => Test::NumericLessThan(numbers()?),
        "NumericLessThanEquals" => Test::NumericLessThanEquals(numbers()?),
        "NumericGreaterThan" => Test::NumericGreaterThan(numbers()?),
        _ => {
            each(&|text| parse_network(text).is_none().then_some(Problem::ExpectedIp))?;
            Test::IpAddress(
                texts
                    .iter()
                    .filter_map(|(text, _)| parse_network(text))
                    .collect(),
            )
        }
    };
    Ok(Condition {
        key,
        negated: matches!(operator, "StringNotEquals" | "NotIpAddress"),
        test,
    })
}

/// A CIDR range, or a single address as its /32 or /128.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .map(|network| network.trunc())
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// A condition's values as text with where each one is: IAM accepts a
/// string, number or boolean, or a non-empty list of them.
fn condition_values(value: &Value, at: &str) -> Result<Vec<(String, String)>, InvalidPolicy> {
    let scalar = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if items.is_empty() => Err(invalid(at, Problem::Empty)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let item_at = format!("{at}[{index}]");
                match scalar(item) {
                    Some(text) => Ok((text, item_at)),
                    None => Err(invalid(item_at, Problem::ExpectedConditionValue)),
                }
            })
            .collect(),
        _ => match scalar(value) {
            Some(text) => Ok(vec![(text, at.to_owned())]),
            None => Err(invalid(at, Problem::ExpectedConditionValue)),
        },
    }
}

/// JSON read as `serde_json::Value`, refusing a key repeated in one object:
/// `{"Effect":"Deny","Effect":"Allow"}` must not quietly mean Allow.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {key:?} appears twice"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::*;

    /// A document with these statements.
    fn with(statements: &str) -> String {
        format!(r#"{{"Version": "2026-12-01", "Statement": [{statements}]}}"#)
    }

    fn condition(block: &str) -> String {
        with(&format!(r#"{{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {block}}}"#))
    }

    const OK: &str = r#"{"Effect": "Allow", "Action": "http:GET", "Resource": "*"}"#;

    #[test]
    fn each_mistake_is_named_where_it_is() {
        let big = format!(r#"{{"Statement": [{OK}], "Version": "2026-12-01"{}}}"#, " ".repeat(MAX_DOCUMENT_BYTES));
        let many = with(&vec![OK; MAX_STATEMENTS + 1].join(","));
        let cases: Vec<(String, &str)> = vec![
            (big, "document: larger than 10240 bytes"),
            ("{".into(), "document: not valid JSON: EOF while parsing an object at line 1 column 1"),
            (r#"{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}]}"#.into(),
                "document: not valid JSON: the key \"Effect\" appears twice at line 1 column 42"),
            ("[]".into(), "document: expected a JSON object"),
            ("[".repeat(5000), "document: not valid JSON: recursion limit exceeded at line 1 column 128"),
            (r#"{"Version": "2012-10-17", "Statement": []}"#.into(), "Version: expected 2026-12-01"),
            (r#"{"Version": "2026-12-01"}"#.into(), "Statement: is required"),
            (r#"{"Statement": "Allow"}"#.into(), "Statement: expected a statement object or a list of them"),
            (with(""), "Statement: must not be empty"),
            (many, "Statement: at most 100 statements"),
            (r#"{"Statement": [], "Id": "x"}"#.into(), "Id: unknown element"),
            (with(&format!(r#"{OK}, "Allow""#)), "Statement[1]: expected a JSON object"),
            (with(&format!(r#"{OK}, {{"Effect": "allow", "Action": "*", "Resource": "*"}}"#)),
                "Statement[1].Effect: expected Allow or Deny"),
            (with(r#"{"Action": "*", "Resource": "*"}"#), "Statement[0].Effect: is required"),
            (with(r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}"#),
                "Statement[0].Principal: unknown element"),
            (with(r#"{"Sid": "has space", "Effect": "Allow", "Action": "*", "Resource": "*"}"#),
                "Statement[0].Sid: expected letters and digits only"),
            (with(r#"{"Sid": 7, "Effect": "Allow", "Action": "*", "Resource": "*"}"#),
                "Statement[0].Sid: expected a string"),
            (with(r#"{"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
                     {"Sid": "B", "Effect": "Allow", "Action": "*", "Resource": "*"},
                     {"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}"#),
                "Statement[2].Sid: the same Sid as Statement[0]"),
            (with(r#"{"Effect": "Allow", "Resource": "*"}"#), "Statement[0]: give Action or NotAction"),
            (with(r#"{"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}"#),
                "Statement[0]: give Action or NotAction, not both"),
            (with(r#"{"Effect": "Allow", "Action": "*"}"#), "Statement[0]: give Resource or NotResource"),
            (with(r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "x"}"#),
                "Statement[0]: give Resource or NotResource, not both"),
            (with(r#"{"Effect": "Allow", "Action": [], "Resource": "*"}"#), "Statement[0].Action: must not be empty"),
            (with(r#"{"Effect": "Allow", "Action": 3, "Resource": "*"}"#),
                "Statement[0].Action: expected a string or a list of strings"),
            (with(r#"{"Effect": "Allow", "Action": ["http:GET", 3], "Resource": "*"}"#),
                "Statement[0].Action[1]: expected a string"),
            (with(r#"{"Effect": "Allow", "Action": "GET", "Resource": "*"}"#),
                "Statement[0].Action: expected \"*\" or service:action, with service http, twofold, sts or oidc"),
            (with(r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}"#),
                "Statement[0].Action: expected \"*\" or service:action, with service http, twofold, sts or oidc"),
            (with(r#"{"Effect": "Allow", "Action": "http:", "Resource": "*"}"#),
                "Statement[0].Action: expected \"*\" or service:action, with service http, twofold, sts or oidc"),
            (with(r#"{"Effect": "Allow", "NotAction": ["http:GET", "twofold:ResetMFAs"], "Resource": "*"}"#),
                "Statement[0].NotAction[1]: unknown action"),
            (with(r#"{"Effect": "Allow", "Action": "*", "Resource": ""}"#), "Statement[0].Resource: must not be empty"),
            (with(r#"{"Effect": "Allow", "Action": "*", "NotResource": ["a", "b\nc"]}"#),
                "Statement[0].NotResource[1]: must not contain control characters"),
            (condition("[]"), "Statement[0].Condition: expected a JSON object"),
            (condition(r#"{"StringEqualsIfExists": {"twofold:username": "a"}}"#),
                "Statement[0].Condition.StringEqualsIfExists: unknown condition operator; expected StringEquals, \
                 StringNotEquals, StringLike, Bool, NumericLessThan, NumericLessThanEquals, NumericGreaterThan, \
                 IpAddress or NotIpAddress"),
            (condition(r#"{"Bool": {}}"#), "Statement[0].Condition.Bool: must not be empty"),
            (condition(r#"{"Bool": "true"}"#), "Statement[0].Condition.Bool: expected a JSON object"),
            (condition(r#"{"StringEquals": {"aws:username": "a"}}"#),
                "Statement[0].Condition.StringEquals.aws:username: unknown condition key"),
            (condition(r#"{"IpAddress": {"twofold:username": "10.0.0.0/8"}}"#),
                "Statement[0].Condition.IpAddress.twofold:username: IpAddress does not apply to twofold:username"),
            (condition(r#"{"StringEquals": {"twofold:SourceIp": "10.0.0.1"}}"#),
                "Statement[0].Condition.StringEquals.twofold:SourceIp: StringEquals does not apply to twofold:SourceIp"),
            (condition(r#"{"Bool": {"twofold:MultiFactorAuthPresent": "yes"}}"#),
                "Statement[0].Condition.Bool.twofold:MultiFactorAuthPresent: expected true or false"),
            (condition(r#"{"NumericLessThan": {"twofold:MultiFactorAuthAge": ["300", "soon"]}}"#),
                "Statement[0].Condition.NumericLessThan.twofold:MultiFactorAuthAge[1]: expected a number"),
            (condition(r#"{"NumericGreaterThan": {"twofold:MultiFactorAuthAge": "NaN"}}"#),
                "Statement[0].Condition.NumericGreaterThan.twofold:MultiFactorAuthAge: expected a number"),
            (condition(r#"{"IpAddress": {"twofold:SourceIp": "10.0.0.0/33"}}"#),
                "Statement[0].Condition.IpAddress.twofold:SourceIp: expected an IP address or a CIDR range"),
            (condition(r#"{"StringEquals": {"twofold:MfaMethod": ["totp", "webauthn"]}}"#),
                "Statement[0].Condition.StringEquals.twofold:MfaMethod[1]: expected one of totp, security_key, \
                 passkey, recovery_code"),
            (condition(r#"{"StringNotEquals": {"twofold:CredentialType": "cookie"}}"#),
                "Statement[0].Condition.StringNotEquals.twofold:CredentialType: expected one of session, \
                 access_key, temporary"),
            (condition(r#"{"StringEquals": {"twofold:username": []}}"#),
                "Statement[0].Condition.StringEquals.twofold:username: must not be empty"),
            (condition(r#"{"StringEquals": {"twofold:username": {"a": 1}}}"#),
                "Statement[0].Condition.StringEquals.twofold:username: expected a string, number or boolean, or a list of them"),
            (condition(r#"{"StringEquals": {"twofold:username": ["a", null]}}"#),
                "Statement[0].Condition.StringEquals.twofold:username[1]: expected a string, number or boolean, or a list of them"),
        ];
        for (document, expected) in cases {
            match PolicyDocument::parse(&document) {
                Ok(_) => panic!("accepted, expected {expected:?}: {document}"),
                Err(error) => assert_eq!(error.to_string(), expected, "{document}"),
            }
        }
    }

    #[test]
    fn the_contract_example_and_its_variants_are_accepted() {
        let example = r#"{"Version": "2026-12-01",
         "Statement": [
           {"Sid": "OpsUseGrafana", "Effect": "Allow",
            "Action": ["http:GET", "http:POST"],
            "Resource": ["https://grafana.example.com/*"]},
           {"Sid": "AdminPathsNeedAKey", "Effect": "Deny",
            "Action": "http:*",
            "Resource": "https://grafana.example.com/admin/*",
            "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}}]}"#;
        let document = PolicyDocument::parse(example).unwrap();
        assert_eq!(document.statements.len(), 2);
        assert_eq!(document.statements[1].effect, Effect::Deny);
        assert_eq!(document.statements[1].conditions[0].test, Test::Bool(vec![false]));

        let accepted = [
            // One statement as an object, no Version, no Sid.
            r#"{"Statement": {"Effect": "Allow", "Action": "twofold:ResetMfa", "Resource": "twofold:user/*"}}"#.to_string(),
            // Actions in any case, wildcards in twofold's own names.
            with(r#"{"Effect": "Allow", "Action": ["TWOFOLD:listusers", "twofold:Manage*", "sts:AssumeRole", "oidc:Authorize"], "Resource": "*"}"#),
            // Condition values as numbers, booleans and lists; keys in any case.
            condition(r#"{"NumericLessThan": {"twofold:multifactorauthage": 300},
                          "Bool": {"twofold:PhishingResistant": [true]},
                          "IpAddress": {"twofold:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]},
                          "StringLike": {"twofold:groups": "ops-*"}}"#),
            // Exactly the limits.
            with(&vec![OK; MAX_STATEMENTS].join(",")),
        ];
        for document in accepted {
            PolicyDocument::parse(&document).unwrap_or_else(|e| panic!("{e}: {document}"));
        }
    }

    #[test]
    fn compiled_values_are_ready_to_compare() {
        let document = PolicyDocument::parse(&condition(
            r#"{"NumericLessThan": {"twofold:MultiFactorAuthAge": ["300", 60]},
                "IpAddress": {"twofold:SourceIp": ["10.1.2.3/8", "::1"]}}"#,
        ))
        .unwrap();
        let tests: Vec<_> = document.statements[0].conditions.iter().map(|c| c.test.clone()).collect();
        assert!(tests.contains(&Test::NumericLessThan(vec![300.0, 60.0])));
        assert!(tests.contains(&Test::IpAddress(vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])));
        // Actions are stored lowercased, resources as written.
        let document = PolicyDocument::parse(&with(r#"{"Effect": "Allow", "Action": "HTTP:Get", "Resource": "https://A/*"}"#)).unwrap();
        assert_eq!(document.statements[0].actions.patterns[0].as_str(), "http:get");
        assert_eq!(document.statements[0].resources.patterns[0].as_str(), "https://A/*");
    }
}
