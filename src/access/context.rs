//! The condition keys a request carries (`twofold:username`, `twofold:groups`,
//! …) and their values, each read once into the forms the operators compare
//! (text, number, boolean, IP address), so evaluation parses nothing.
//! A key that was never set is absent, and a condition on it does not match.

use std::net::IpAddr;

/// The keys a condition may test, as in the contract. Names are matched
/// case-insensitively, as IAM does for condition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionKey {
    Username,
    /// Multi-valued: a condition matches if any group matches.
    Groups,
    MultiFactorAuthPresent,
    /// Seconds since the last second factor.
    MultiFactorAuthAge,
    /// `totp`, `security_key`, `passkey` or `recovery_code`.
    MfaMethod,
    /// True when the second factor was WebAuthn.
    PhishingResistant,
    SourceIp,
    /// `session`, `access_key` or `temporary`.
    CredentialType,
}

/// What kind of value a key holds, which decides the operators that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    String,
    Bool,
    Numeric,
    Ip,
}

impl ConditionKey {
    pub const ALL: [ConditionKey; 8] = [
        ConditionKey::Username,
        ConditionKey::Groups,
        ConditionKey::MultiFactorAuthPresent,
        ConditionKey::MultiFactorAuthAge,
        ConditionKey::MfaMethod,
        ConditionKey::PhishingResistant,
        ConditionKey::SourceIp,
        ConditionKey::CredentialType,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConditionKey::Username => "twofold:username",
            ConditionKey::Groups => "twofold:groups",
            ConditionKey::MultiFactorAuthPresent => "twofold:MultiFactorAuthPresent",
            ConditionKey::MultiFactorAuthAge => "twofold:MultiFactorAuthAge",
            ConditionKey::MfaMethod => "twofold:MfaMethod",
            ConditionKey::PhishingResistant => "twofold:PhishingResistant",
            ConditionKey::SourceIp => "twofold:SourceIp",
            ConditionKey::CredentialType => "twofold:CredentialType",
        }
    }

    /// The key a name stands for, ignoring case (`twofold:mfamethod` too).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|key| key.name().eq_ignore_ascii_case(name))
    }

    pub fn kind(self) -> KeyKind {
        match self {
            ConditionKey::Username
            | ConditionKey::Groups
            | ConditionKey::MfaMethod
            | ConditionKey::CredentialType => KeyKind::String,
            ConditionKey::MultiFactorAuthPresent | ConditionKey::PhishingResistant => KeyKind::Bool,
            ConditionKey::MultiFactorAuthAge => KeyKind::Numeric,
            ConditionKey::SourceIp => KeyKind::Ip,
        }
    }

    /// The only values the key can take, where the contract lists them: a
    /// policy comparing against anything else is a typo that would never match.
    pub fn allowed_values(self) -> Option<&'static [&'static str]> {
        match self {
            ConditionKey::MfaMethod => Some(&["totp", "security_key", "passkey", "recovery_code"]),
            ConditionKey::CredentialType => Some(&["session", "access_key", "temporary"]),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One value of a key, read once into every form an operator may compare.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextValue {
    text: String,
    number: Option<f64>,
    boolean: Option<bool>,
    ip: Option<IpAddr>,
}

impl ContextValue {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            number: parse_number(&text),
            boolean: parse_bool(&text),
            // `::ffff:10.0.0.1` is 10.0.0.1, so IPv4 ranges apply to it.
            ip: text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()),
            text,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn number(&self) -> Option<f64> {
        self.number
    }

    pub fn boolean(&self) -> Option<bool> {
        self.boolean
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }
}

/// A finite decimal number (`30`, `1.5`); `NaN`, `inf` and the empty string are not numbers.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

/// `true` or `false`, in any case, as IAM's `Bool`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The condition keys of one request. Keys never set are absent; a key set
/// to an empty list (a user in no group) is present with no values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    values: [Option<Vec<ContextValue>>; ConditionKey::ALL.len()],
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key (replacing what it held).
    pub fn set(&mut self, key: ConditionKey, value: impl Into<String>) -> &mut Self {
        self.values[key.index()] = Some(vec![ContextValue::new(value)]);
        self
    }

    /// Sets a key to several values (`twofold:groups`), none included.
    pub fn set_all<I, S>(&mut self, key: ConditionKey, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.values[key.index()] = Some(values.into_iter().map(ContextValue::new).collect());
        self
    }

    pub fn remove(&mut self, key: ConditionKey) -> &mut Self {
        self.values[key.index()] = None;
        self
    }

    /// The values of a key, `None` when absent.
    pub fn get(&self, key: ConditionKey) -> Option<&[ContextValue]> {
        self.values[key.index()].as_deref()
    }

    pub fn with(mut self, key: ConditionKey, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    pub fn with_all<I, S>(mut self, key: ConditionKey, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_all(key, values);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_read_in_any_case_and_unknown_ones_are_refused() {
        assert_eq!(
            ConditionKey::from_name("twofold:MfaMethod"),
            Some(ConditionKey::MfaMethod)
        );
        assert_eq!(
            ConditionKey::from_name("TWOFOLD:mfamethod"),
            Some(ConditionKey::MfaMethod)
        );
        assert_eq!(ConditionKey::from_name("twofold:MfaMethods"), None);
        assert_eq!(ConditionKey::from_name("aws:username"), None);
        for key in ConditionKey::ALL {
            assert_eq!(ConditionKey::from_name(key.name()), Some(key));
        }
    }

    #[test]
    fn values_are_read_once_into_each_form() {
        let age = ContextValue::new("30");
        assert_eq!(age.number(), Some(30.0));
        assert_eq!(age.boolean(), None);
        let yes = ContextValue::new("TRUE");
        assert_eq!(yes.boolean(), Some(true));
        assert_eq!(yes.number(), None);
        let ip = ContextValue::new("2001:db8::1");
        assert_eq!(ip.ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(ContextValue::new("NaN").number(), None);
        assert_eq!(ContextValue::new("inf").number(), None);
        assert_eq!(ContextValue::new("soon").number(), None);
    }

    #[test]
    fn unset_keys_are_absent_and_an_empty_group_list_is_present() {
        let context = Context::new()
            .with(ConditionKey::Username, "alice")
            .with_all(ConditionKey::Groups, Vec::<String>::new());
        assert_eq!(
            context.get(ConditionKey::Username).unwrap()[0].text(),
            "alice"
        );
        assert_eq!(context.get(ConditionKey::Groups), Some(&[][..]));
        assert_eq!(context.get(ConditionKey::MfaMethod), None);
    }
}
