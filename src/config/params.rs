//! `params.cfg`: guest parameters read by the host manager and init scripts.

use super::ShellVars;
use crate::error::Result;
use crate::validate;

/// The default `params.cfg`.
pub(crate) const DEFAULT_PARAMS_CFG: &str = "\
# Guest parameters, sourced by the host's guest manager and by init scripts.
# Edit with xenguest-mkimage (--set-param), not by hand.

# Start the guest automatically when the host boots (1 or 0)
GUEST_AUTOBOOT=\"1\"
";

/// Seconds `xenguest-manager update` waits for an updated guest to be
/// healthy when its `params.cfg` has no `GUEST_HEALTH_TIMEOUT`.
pub const DEFAULT_HEALTH_TIMEOUT: u64 = 120;

/// The guest's `params.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params(pub ShellVars);

impl Default for Params {
    fn default() -> Self {
        Params(ShellVars::parse(DEFAULT_PARAMS_CFG))
    }
}

impl Params {
    /// Parses file text.
    pub fn parse(text: &str) -> Self {
        Params(ShellVars::parse(text))
    }

    /// Sets `key` to `value`, or removes it when `value` is `None` or empty
    /// (as the classic tool does).
    pub fn set(&mut self, option: &str, key: &str, value: Option<&str>) -> Result<()> {
        validate::shell_name(option, key)?;
        match value {
            Some(v) if !v.is_empty() => {
                validate::shell_value(option, v)?;
                validate::param_value(option, key, v)?;
                self.0.set(key, v);
            }
            _ => self.0.remove(key),
        }
        Ok(())
    }

    /// Seconds to wait for the guest to be healthy after an update:
    /// `GUEST_HEALTH_TIMEOUT`, or [`DEFAULT_HEALTH_TIMEOUT`] when absent.
    ///
    /// # Errors
    ///
    /// A value that is not a whole number from 1 to 86400; the message
    /// names `GUEST_HEALTH_TIMEOUT`.
    pub fn health_timeout(&self) -> Result<u64> {
        match self.0.get(validate::HEALTH_TIMEOUT_PARAM) {
            None => Ok(DEFAULT_HEALTH_TIMEOUT),
            Some(v) => validate::health_timeout("params.cfg", v),
        }
    }

    /// The file text.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_set() {
        let mut p = Params::default();
        assert_eq!(p.0.get("GUEST_AUTOBOOT"), Some("1"));
        p.set("o", "XENGUEST_NETWORK_TYPE", Some("bridge")).unwrap();
        p.set("o", "GUEST_AUTOBOOT", Some("0")).unwrap();
        assert!(p
            .render()
            .ends_with("GUEST_AUTOBOOT=\"0\"\nXENGUEST_NETWORK_TYPE=\"bridge\"\n"));
        p.set("o", "GUEST_AUTOBOOT", None).unwrap();
        assert_eq!(p.0.get("GUEST_AUTOBOOT"), None);
        assert!(p.set("o", "X", Some("$(reboot)")).is_err());
        assert!(p.set("o", "X;rm", Some("1")).is_err());
        assert!(p.set("o", "GUEST_AUTOBOOT", Some("yes")).is_err());
        assert!(p.set("o", "XENGUEST_NETWORK_TYPE", Some("brdge")).is_err());
    }

    #[test]
    fn health_timeout_defaults_and_is_checked() {
        let mut p = Params::default();
        assert_eq!(p.health_timeout().unwrap(), DEFAULT_HEALTH_TIMEOUT);
        p.set("o", "GUEST_HEALTH_TIMEOUT", Some("300")).unwrap();
        assert_eq!(p.health_timeout().unwrap(), 300);
        assert!(p.set("o", "GUEST_HEALTH_TIMEOUT", Some("0")).is_err());
        let by_hand = Params::parse("GUEST_HEALTH_TIMEOUT=\"soon\"\n");
        let e = by_hand.health_timeout().unwrap_err().to_string();
        assert!(e.contains("GUEST_HEALTH_TIMEOUT=soon"), "{e}");
    }
}
